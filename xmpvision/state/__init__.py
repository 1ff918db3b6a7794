"""The state database: which photos were seen, and which model types are done for each."""

from xmpvision.state.db import (
    FallbackAnswers,
    FileStatus,
    Plan,
    ResultRecord,
    StateDB,
    default_state_path,
)

__all__ = ["FallbackAnswers", "FileStatus", "Plan", "ResultRecord", "StateDB",
           "default_state_path"]

"""The state database: which photos were seen, and which model types are done for each."""

from xmpvision.state.db import (
    FallbackAnswers,
    FileStatus,
    Plan,
    ResultRecord,
    StateDB,
    default_state_path,
)
from xmpvision.state.parallel import FoundParallel, read_found

__all__ = ["FallbackAnswers", "FileStatus", "FoundParallel", "Plan", "ResultRecord", "StateDB",
           "default_state_path", "read_found"]

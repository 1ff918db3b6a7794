"""The state database: which photos were seen, and which model types are done for each."""

from xmpvision.state.db import FileStatus, Plan, ResultRecord, StateDB, default_state_path

__all__ = ["FileStatus", "Plan", "ResultRecord", "StateDB", "default_state_path"]

"""Privacy: roles and scopes, the viewer of an app (signed by the server), users, audit and consent."""
from workbench.privacy.roles import ROLES, Role, mask_name
from workbench.privacy.scope import ScopeIndex, check_query, display_code, student_for_code
from workbench.privacy.users import Users, UsersFileError
from workbench.privacy.viewer import ScopeError, Viewer, current_viewer

__all__ = ["ROLES", "Role", "mask_name", "ScopeError", "Viewer", "current_viewer", "ScopeIndex", "check_query",
           "display_code", "student_for_code", "Users", "UsersFileError"]

"""Privacy: roles and scopes, the viewer of an app (signed by the server), users, audit and consent."""
from workbench.privacy.roles import ROLES, Role, mask_name
from workbench.privacy.viewer import ScopeError, Viewer, current_viewer

__all__ = ["ROLES", "Role", "mask_name", "ScopeError", "Viewer", "current_viewer"]

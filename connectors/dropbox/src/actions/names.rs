//! The names the manifest declares for the actions and their parameters:
//! stable API, shared by the declarations ([`super::action_infos`]) and the
//! actions that read the parameters.

pub const DEACTIVATE_USER: &str = "deactivate-user";
pub const REACTIVATE_USER: &str = "reactivate-user";
pub const DELETE_USER: &str = "delete-user";
pub const GET_USER_ROLE: &str = "get-user-role";
pub const SET_USER_ROLE: &str = "set-user-role";

pub const PARAM_WIPE_DATA: &str = "wipe-data";
pub const PARAM_TRANSFER_DEST: &str = "transfer-destination-email";
pub const PARAM_TRANSFER_ADMIN: &str = "transfer-admin-email";
pub const PARAM_KEEP_ACCOUNT: &str = "keep-account";
pub const PARAM_RETAIN_TEAM_SHARES: &str = "retain-team-shares";
pub const PARAM_ROLE: &str = "role";

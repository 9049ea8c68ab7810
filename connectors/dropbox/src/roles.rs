//! Dropbox admin roles as the connector reports them, in records (the
//! catalog) and in action results (`get-user-role`, `set-user-role`).

use crate::wire::TeamMemberRole;

/// The role given to members that hold no admin role.
pub const MEMBER_ROLE: &str = "Member";

/// A member's roles as values: their ids and names, in Dropbox's order, and
/// the role (the first one's name, or [`MEMBER_ROLE`] for none).
pub fn split(roles: Vec<TeamMemberRole>) -> (Vec<String>, Vec<String>, String) {
    let role = roles
        .first()
        .map_or(MEMBER_ROLE, |r| r.name.as_str())
        .to_owned();
    let (ids, names) = roles.into_iter().map(|r| (r.role_id, r.name)).unzip();
    (ids, names, role)
}

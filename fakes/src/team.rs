//! Deterministic synthetic Dropbox teams of any size.
//!
//! The fake Dropbox server, the end-to-end tests, the CLI's `demo` command and
//! the 1,000,000-member benchmarks all need a realistic team without paying
//! memory for it: member `i` is a pure function of `(seed, i)` computed on the
//! fly, and only members changed later (suspended, removed, …) are stored in a
//! small overlay. Generated identifiers (email, team_member_id, external_id)
//! encode their index, so lookups by them are O(1) without an index.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::json::{b64_decode, b64_encode, push_field_bool, push_field_str, push_key, push_str};

/// How union values and extension points are rendered on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireStyle {
    /// Render unions without payload as bare strings (`"status":"active"`),
    /// which Dropbox decoders must accept besides `{".tag":"active"}`.
    pub bare_union_tags: bool,
    /// Add an unknown field to each profile and page, and give ~1% of the
    /// members an unknown status tag (`{".tag":"pending_verification"}`).
    pub unknown_fields: bool,
}

/// `TeamMemberStatus` union.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    Active,
    Invited,
    Suspended,
    Removed {
        is_recoverable: bool,
        is_disconnected: bool,
    },
}

impl MemberStatus {
    /// The union tag (`"active"`, `"removed"`, …).
    pub fn tag(&self) -> &'static str {
        match self {
            MemberStatus::Active => "active",
            MemberStatus::Invited => "invited",
            MemberStatus::Suspended => "suspended",
            MemberStatus::Removed { .. } => "removed",
        }
    }

    pub fn is_removed(&self) -> bool {
        matches!(self, MemberStatus::Removed { .. })
    }
}

/// `TeamMembershipType` union.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MembershipType {
    Full,
    Limited,
}

impl MembershipType {
    pub fn tag(&self) -> &'static str {
        match self {
            MembershipType::Full => "full",
            MembershipType::Limited => "limited",
        }
    }
}

/// `users.Name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub given_name: String,
    pub surname: String,
    pub familiar_name: String,
    pub display_name: String,
    pub abbreviated_name: String,
}

/// `SecondaryEmail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryEmail {
    pub email: String,
    pub is_verified: bool,
}

/// `TeamMemberRole`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Role {
    pub role_id: String,
    pub name: String,
    pub description: String,
}

/// The standard admin roles: (role_id, name, description).
const ROLE_DEFS: [(&str, &str, &str); 4] = [
    (
        "pid_dbtmr:3451",
        "Team admin",
        "Full access to the admin console, including all admin actions and team settings.",
    ),
    (
        "pid_dbtmr:3456",
        "User management admin",
        "Add, remove, and manage member accounts.",
    ),
    (
        "pid_dbtmr:3457",
        "Support admin",
        "Help members with their accounts, like resetting passwords and restoring files.",
    ),
    (
        "pid_dbtmr:3458",
        "Billing admin",
        "Manage the team's billing, payment details and invoices.",
    ),
];

impl Role {
    fn from_def(k: usize) -> Role {
        let (id, name, description) = ROLE_DEFS[k % ROLE_DEFS.len()];
        Role {
            role_id: id.to_string(),
            name: name.to_string(),
            description: description.to_string(),
        }
    }

    /// Every role `team/members/get_available_team_member_roles` lists.
    pub fn standard() -> Vec<Role> {
        (0..ROLE_DEFS.len()).map(Role::from_def).collect()
    }

    pub fn team_admin() -> Role {
        Role::from_def(0)
    }

    pub fn user_management_admin() -> Role {
        Role::from_def(1)
    }

    pub fn support_admin() -> Role {
        Role::from_def(2)
    }

    pub fn billing_admin() -> Role {
        Role::from_def(3)
    }

    pub fn by_id(role_id: &str) -> Option<Role> {
        ROLE_DEFS
            .iter()
            .position(|d| d.0 == role_id)
            .map(Role::from_def)
    }
}

/// One team member: every `TeamMemberProfile` field plus its roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub team_member_id: String,
    pub external_id: Option<String>,
    pub account_id: Option<String>,
    pub email: String,
    pub email_verified: bool,
    pub secondary_emails: Option<Vec<SecondaryEmail>>,
    pub status: MemberStatus,
    pub name: Name,
    pub membership_type: MembershipType,
    pub invited_on: Option<String>,
    pub joined_on: Option<String>,
    pub suspended_on: Option<String>,
    pub persistent_id: Option<String>,
    pub is_directory_restricted: Option<bool>,
    pub profile_photo_url: Option<String>,
    pub groups: Vec<String>,
    pub member_folder_id: String,
    pub root_folder_id: String,
    pub roles: Vec<Role>,
}

fn push_void_union(out: &mut String, tag: &str, bare: bool) {
    if bare {
        push_str(out, tag);
    } else {
        out.push_str("{\".tag\":");
        push_str(out, tag);
        out.push('}');
    }
}

fn push_opt_str(out: &mut String, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        out.push(',');
        push_field_str(out, key, v);
    }
}

impl Member {
    /// Whether this member's status is rendered as an unknown tag under
    /// `style` (about 1% of members when `style.unknown_fields`).
    pub fn has_unknown_status(&self, style: &WireStyle) -> bool {
        style.unknown_fields && fnv1a(self.team_member_id.as_bytes()).is_multiple_of(100)
    }

    pub fn is_team_admin(&self) -> bool {
        self.roles.iter().any(|r| r.role_id == ROLE_DEFS[0].0)
    }

    /// Appends this member as a `TeamMemberInfoV2` JSON object.
    pub fn write_json(&self, style: &WireStyle, out: &mut String) {
        let bare = style.bare_union_tags;
        out.push_str("{\"profile\":{");
        push_field_str(out, "team_member_id", &self.team_member_id);
        push_opt_str(out, "external_id", &self.external_id);
        push_opt_str(out, "account_id", &self.account_id);
        out.push(',');
        push_field_str(out, "email", &self.email);
        out.push(',');
        push_field_bool(out, "email_verified", self.email_verified);
        if let Some(list) = &self.secondary_emails {
            out.push_str(",\"secondary_emails\":[");
            for (k, e) in list.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                out.push('{');
                push_field_str(out, "email", &e.email);
                out.push(',');
                push_field_bool(out, "is_verified", e.is_verified);
                out.push('}');
            }
            out.push(']');
        }
        out.push(',');
        push_key(out, "status");
        if self.has_unknown_status(style) {
            push_void_union(out, "pending_verification", bare);
        } else {
            match self.status {
                MemberStatus::Removed {
                    is_recoverable,
                    is_disconnected,
                } => {
                    out.push_str("{\".tag\":\"removed\",");
                    push_field_bool(out, "is_recoverable", is_recoverable);
                    out.push(',');
                    push_field_bool(out, "is_disconnected", is_disconnected);
                    out.push('}');
                }
                s => push_void_union(out, s.tag(), bare),
            }
        }
        out.push_str(",\"name\":{");
        push_field_str(out, "given_name", &self.name.given_name);
        out.push(',');
        push_field_str(out, "surname", &self.name.surname);
        out.push(',');
        push_field_str(out, "familiar_name", &self.name.familiar_name);
        out.push(',');
        push_field_str(out, "display_name", &self.name.display_name);
        out.push(',');
        push_field_str(out, "abbreviated_name", &self.name.abbreviated_name);
        out.push_str("},");
        push_key(out, "membership_type");
        push_void_union(out, self.membership_type.tag(), bare);
        push_opt_str(out, "invited_on", &self.invited_on);
        push_opt_str(out, "joined_on", &self.joined_on);
        push_opt_str(out, "suspended_on", &self.suspended_on);
        push_opt_str(out, "persistent_id", &self.persistent_id);
        if let Some(b) = self.is_directory_restricted {
            out.push(',');
            push_field_bool(out, "is_directory_restricted", b);
        }
        push_opt_str(out, "profile_photo_url", &self.profile_photo_url);
        out.push_str(",\"groups\":[");
        for (k, g) in self.groups.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            push_str(out, g);
        }
        out.push_str("],");
        push_field_str(out, "member_folder_id", &self.member_folder_id);
        out.push(',');
        push_field_str(out, "root_folder_id", &self.root_folder_id);
        if style.unknown_fields {
            out.push_str(",\"future_field\":{\"x\":1}");
        }
        out.push_str("},\"roles\":[");
        for (k, r) in self.roles.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push('{');
            push_field_str(out, "role_id", &r.role_id);
            out.push(',');
            push_field_str(out, "name", &r.name);
            out.push(',');
            push_field_str(out, "description", &r.description);
            out.push('}');
        }
        out.push_str("]}");
    }

    /// This member as a `TeamMemberInfoV2` JSON value.
    pub fn to_json(&self, style: &WireStyle) -> serde_json::Value {
        let mut out = String::with_capacity(1024);
        self.write_json(style, &mut out);
        // write_json always produces valid JSON; fall back to Null rather
        // than panic should that ever not hold.
        serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
    }
}

// ---------------------------------------------------------------------------
// Hashing

const M1: u64 = 0xbf58_476d_1ce4_e5b9;
const M2: u64 = 0x94d0_49bb_1331_11eb;
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The splitmix64 finalizer: a bijection on u64.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(M1);
    z = (z ^ (z >> 27)).wrapping_mul(M2);
    z ^ (z >> 31)
}

const fn mul_inverse(a: u64) -> u64 {
    let mut x = a;
    let mut k = 0;
    while k < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        k += 1;
    }
    x
}

const fn unxorshift(y: u64, s: u32) -> u64 {
    let mut x = y;
    let mut k = s;
    while k < 64 {
        x = y ^ (x >> s);
        k += s;
    }
    x
}

/// The inverse of [`mix64`].
const fn unmix64(mut z: u64) -> u64 {
    z = unxorshift(z, 31);
    z = z.wrapping_mul(mul_inverse(M2));
    z = unxorshift(z, 27);
    z = z.wrapping_mul(mul_inverse(M1));
    unxorshift(z, 30)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

// Salts, one per independent decision about a member.
const S_GIVEN: u64 = 1;
const S_SURNAME: u64 = 2;
const S_STATUS: u64 = 3;
const S_REMOVED: u64 = 4;
const S_MEMBERSHIP: u64 = 5;
const S_ROLE: u64 = 6;
const S_EXTERNAL: u64 = 7;
const S_VERIFIED: u64 = 8;
const S_SECONDARY: u64 = 9;
const S_JOINED: u64 = 10;
const S_INVITED: u64 = 11;
const S_SUSPENDED: u64 = 12;
const S_PERSISTENT: u64 = 13;
const S_DIRECTORY: u64 = 14;
const S_PHOTO: u64 = 15;
const S_GROUPS: u64 = 16;
const S_ACCOUNT: u64 = 17;
const S_TAIL: u64 = 18;

const K_TMID: u64 = 0x746d_6964;
const K_ACCOUNT: u64 = 0x6163_6374;
const K_GROUP: u64 = 0x6772_7570;
const K_FOLDER: u64 = 0x666f_6c64;
const K_EXTERNAL: u64 = 0x6578_7469;

const TMID_PREFIX: &str = "dbmid:AA";
const GROUP_POOL: usize = 48;

// 2015-01-01T00:00:00Z and 2025-11-30T00:00:00Z: the generated history lies
// between the two, so every timestamp is deterministic.
const EPOCH_START: i64 = 1_420_070_400;
const EPOCH_END: i64 = 1_764_460_800;
const DAY: i64 = 86_400;

/// Forced profiles for the first indices, so any team of 10+ members holds
/// every status, both membership types and every admin role.
const FORCED: [(MemberStatus, MembershipType, Option<usize>); 10] = [
    (MemberStatus::Active, MembershipType::Full, Some(0)),
    (MemberStatus::Invited, MembershipType::Full, None),
    (MemberStatus::Suspended, MembershipType::Full, None),
    (
        MemberStatus::Removed {
            is_recoverable: true,
            is_disconnected: false,
        },
        MembershipType::Full,
        None,
    ),
    (MemberStatus::Active, MembershipType::Limited, None),
    (
        MemberStatus::Removed {
            is_recoverable: false,
            is_disconnected: true,
        },
        MembershipType::Full,
        None,
    ),
    (MemberStatus::Active, MembershipType::Full, Some(1)),
    (MemberStatus::Active, MembershipType::Full, Some(2)),
    (MemberStatus::Active, MembershipType::Full, Some(3)),
    (MemberStatus::Invited, MembershipType::Limited, None),
];

const COMPANIES: [(&str, &str); 12] = [
    ("northwind-traders.com", "northwind.net"),
    ("contoso.com", "contoso-legacy.com"),
    ("fabrikam.io", "fabrikam-mail.com"),
    ("globex-corp.com", "globex.net"),
    ("initech.com", "initech-old.com"),
    ("umbrella-labs.com", "umbrella.net"),
    ("seagull-logistics.com", "seagull.net"),
    ("tailspin-toys.com", "tailspin.net"),
    ("wingtip-systems.com", "wingtip.org"),
    ("adventure-works.com", "adventureworks.net"),
    ("blue-yonder-air.com", "blueyonder.net"),
    ("lamna-health.com", "lamna.org"),
];

// ---------------------------------------------------------------------------
// Team

/// A synthetic team: `len` members, member `i` generated from `(seed, i)`
/// unless replaced through [`Team::set_member`].
#[derive(Debug, Clone)]
pub struct Team {
    len: usize,
    seed: u64,
    key: u64,
    company: usize,
    group_ids: Vec<String>,
    overlay: HashMap<usize, Member>,
    overlay_email: HashMap<String, usize>,
    overlay_tmid: HashMap<String, usize>,
    overlay_external: HashMap<String, usize>,
    /// Emails of Dropbox accounts in other teams (lower-case): Dropbox
    /// knows them, but they are not members here.
    outsiders: std::collections::HashSet<String>,
}

impl Team {
    /// A deterministic team of `size` members. Costs O(1) memory whatever
    /// the size.
    pub fn generate(size: usize, seed: u64) -> Team {
        let key = mix64(seed ^ GOLDEN);
        let company = (mix64(key ^ 0x636f) % COMPANIES.len() as u64) as usize;
        let group_ids = (0..GROUP_POOL as u64)
            .map(|n| format!("g:{:016x}{:016x}", mix64(key ^ K_GROUP ^ n), n + 1))
            .collect();
        Team {
            len: size,
            seed,
            key,
            company,
            group_ids,
            overlay: HashMap::new(),
            overlay_email: HashMap::new(),
            overlay_tmid: HashMap::new(),
            overlay_external: HashMap::new(),
            outsiders: std::collections::HashSet::new(),
        }
    }

    /// Makes `email` a Dropbox account of another team: member actions
    /// naming it answer `user_not_in_team` (not `user_not_found`), as
    /// Dropbox does for an address it knows outside the team.
    pub fn add_outsider(&mut self, email: &str) {
        self.outsiders.insert(email.to_lowercase());
    }

    /// Whether `email` is an account of another team.
    pub fn is_outsider(&self, email: &str) -> bool {
        self.outsiders.contains(&email.to_lowercase())
    }

    /// Number of members (removed ones included).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The company's email domain, e.g. `contoso.com`.
    pub fn domain(&self) -> &str {
        COMPANIES[self.company].0
    }

    /// Member `i` (meaningful for `i < len()`).
    pub fn member(&self, i: usize) -> Member {
        match self.overlay.get(&i) {
            Some(m) => m.clone(),
            None => self.generated(i),
        }
    }

    /// Only the status of member `i`, cheaper than [`Team::member`].
    pub fn status(&self, i: usize) -> MemberStatus {
        match self.overlay.get(&i) {
            Some(m) => m.status,
            None => self.generated_status(i),
        }
    }

    /// Replaces member `i`; an index at or past `len()` grows the team to
    /// `i + 1` members (the gap, if any, filled by generated members).
    pub fn set_member(&mut self, i: usize, member: Member) {
        if i >= self.len {
            self.len = i.saturating_add(1);
        }
        self.overlay_email.insert(member.email.to_lowercase(), i);
        self.overlay_tmid.insert(member.team_member_id.clone(), i);
        if let Some(x) = &member.external_id {
            self.overlay_external.insert(x.clone(), i);
        }
        self.overlay.insert(i, member);
    }

    /// Members changed through [`Team::set_member`], by index.
    pub fn changed_members(&self) -> &HashMap<usize, Member> {
        &self.overlay
    }

    /// Every member in index order (computed lazily).
    pub fn members(&self) -> impl Iterator<Item = Member> + '_ {
        (0..self.len).map(|i| self.member(i))
    }

    /// The member with this primary email (case-insensitive).
    pub fn by_email(&self, email: &str) -> Option<(usize, Member)> {
        let wanted = email.to_lowercase();
        let check = |i: usize| -> Option<(usize, Member)> {
            if i >= self.len {
                return None;
            }
            let m = self.member(i);
            (m.email.to_lowercase() == wanted).then_some((i, m))
        };
        if let Some(found) = self.overlay_email.get(&wanted).and_then(|&i| check(i)) {
            return Some(found);
        }
        let (local, domain) = wanted.rsplit_once('@')?;
        if domain != self.domain() {
            return None;
        }
        let (_, index) = local.rsplit_once('.')?;
        check(index.parse().ok()?)
    }

    /// The member with this `team_member_id`.
    pub fn by_team_member_id(&self, id: &str) -> Option<(usize, Member)> {
        let check = |i: u64| -> Option<(usize, Member)> {
            let i = usize::try_from(i).ok().filter(|&i| i < self.len)?;
            let m = self.member(i);
            (m.team_member_id == id).then_some((i, m))
        };
        if let Some(found) = self.overlay_tmid.get(id).and_then(|&i| check(i as u64)) {
            return Some(found);
        }
        let head = id.strip_prefix(TMID_PREFIX)?.get(..11)?;
        let bytes: [u8; 8] = b64_decode(head)?.try_into().ok()?;
        let v = u64::from_be_bytes(bytes);
        check(unmix64(v) ^ self.tmid_key())
    }

    /// The member with this `external_id`.
    pub fn by_external_id(&self, external_id: &str) -> Option<(usize, Member)> {
        let check = |i: u64| -> Option<(usize, Member)> {
            let i = usize::try_from(i).ok().filter(|&i| i < self.len)?;
            let m = self.member(i);
            (m.external_id.as_deref() == Some(external_id)).then_some((i, m))
        };
        if let Some(found) = self
            .overlay_external
            .get(external_id)
            .and_then(|&i| check(i as u64))
        {
            return Some(found);
        }
        if external_id.starts_with('0') || external_id.starts_with('+') {
            return None;
        }
        let n: u64 = external_id.parse().ok()?;
        check(n.checked_sub(self.external_base())?)
    }

    // -- generation ---------------------------------------------------------

    fn h(&self, i: usize, salt: u64) -> u64 {
        mix64(self.key ^ mix64((i as u64) ^ salt.wrapping_mul(GOLDEN)))
    }

    fn tmid_key(&self) -> u64 {
        mix64(self.key ^ K_TMID)
    }

    fn external_base(&self) -> u64 {
        100_000 + mix64(self.key ^ K_EXTERNAL) % 800_000
    }

    fn generated_status(&self, i: usize) -> MemberStatus {
        if let Some(f) = FORCED.get(i) {
            return f.0;
        }
        match self.h(i, S_STATUS) % 1000 {
            0..800 => MemberStatus::Active,
            800..870 => MemberStatus::Invited,
            870..950 => MemberStatus::Suspended,
            _ => {
                let r = self.h(i, S_REMOVED);
                MemberStatus::Removed {
                    is_recoverable: r % 10 < 7,
                    is_disconnected: (r >> 20) % 10 < 2,
                }
            }
        }
    }

    /// The generated membership type and role (an index into `ROLE_DEFS`)
    /// of member `i`, whose generated status is `status`.
    #[inline]
    fn generated_class(&self, i: usize, status: MemberStatus) -> (MembershipType, Option<usize>) {
        match FORCED.get(i) {
            Some(f) => (f.1, f.2),
            None => {
                let membership = if self.h(i, S_MEMBERSHIP) % 100 < 10 {
                    MembershipType::Limited
                } else {
                    MembershipType::Full
                };
                let r = self.h(i, S_ROLE);
                let eligible = membership == MembershipType::Full
                    && matches!(status, MemberStatus::Active | MemberStatus::Suspended);
                let role = (eligible && r % 1000 < 60).then_some(match (r >> 20) % 100 {
                    0..40 => 0,
                    40..65 => 1,
                    65..85 => 2,
                    _ => 3,
                });
                (membership, role)
            }
        }
    }

    /// Whether member `i` is active and holds the Team admin role, without
    /// generating the whole member.
    pub(crate) fn is_active_team_admin(&self, i: usize) -> bool {
        match self.overlay.get(&i) {
            Some(m) => m.status == MemberStatus::Active && m.is_team_admin(),
            None => {
                let status = self.generated_status(i);
                status == MemberStatus::Active && self.generated_class(i, status).1 == Some(0)
            }
        }
    }

    /// Whether some member other than `except` is an active Team admin
    /// (stops at the first one found; member 0 is one unless changed).
    pub(crate) fn has_other_active_team_admin(&self, except: usize) -> bool {
        (0..self.len).any(|i| i != except && self.is_active_team_admin(i))
    }

    fn generated(&self, i: usize) -> Member {
        let status = self.generated_status(i);
        let (membership_type, role) = self.generated_class(i, status);

        let names = names();
        let gi = (self.h(i, S_GIVEN) % GIVEN_NAMES.len() as u64) as usize;
        let si = (self.h(i, S_SURNAME) % SURNAMES.len() as u64) as usize;
        let given = GIVEN_NAMES[gi];
        let surname = SURNAMES[si];
        let (given_fold, surname_fold) = (&names.given[gi], &names.surnames[si]);
        let (domain, alias_domain) = COMPANIES[self.company];
        let email = format!("{given_fold}.{surname_fold}.{i}@{domain}");
        let abbreviated_name: String = given
            .chars()
            .take(1)
            .chain(surname.chars().take(1))
            .flat_map(char::to_uppercase)
            .collect();
        let name = Name {
            given_name: given.to_string(),
            surname: surname.to_string(),
            familiar_name: given.to_string(),
            display_name: format!("{given} {surname}"),
            abbreviated_name,
        };

        let tmid_value = mix64(i as u64 ^ self.tmid_key());
        let tail = self.h(i, S_TAIL);
        let mut team_member_id = String::with_capacity(40);
        team_member_id.push_str(TMID_PREFIX);
        team_member_id.push_str(&b64_encode(&tmid_value.to_be_bytes()));
        team_member_id.push_str(&b64_encode(&tail.to_be_bytes()));
        team_member_id.push_str(&b64_encode(&mix64(tail).to_be_bytes())[..10]);

        let invited = status == MemberStatus::Invited;
        let account_id = (!invited).then(|| {
            let a = mix64(i as u64 ^ mix64(self.key ^ K_ACCOUNT));
            let b = self.h(i, S_ACCOUNT);
            format!(
                "dbid:AA{}{}{}",
                b64_encode(&a.to_be_bytes()),
                b64_encode(&b.to_be_bytes()),
                b64_encode(&mix64(b).to_be_bytes())
            )
        });
        let external_id = (self.h(i, S_EXTERNAL) % 100 < 70)
            .then(|| self.external_base().wrapping_add(i as u64).to_string());
        let v = self.h(i, S_VERIFIED);
        let email_verified = !invited && v % 100 < 98;
        let sec = self.h(i, S_SECONDARY);
        let secondary_emails = (sec % 100 < 3).then(|| {
            vec![SecondaryEmail {
                email: format!("{given_fold}.{surname_fold}.{i}@{alias_domain}"),
                is_verified: !(sec >> 20).is_multiple_of(4),
            }]
        });

        // History: the team started some time in 2015-2016.
        let founded = EPOCH_START + (mix64(self.key ^ 0x666f_756e) % 700) as i64 * DAY;
        let span = (EPOCH_END - 120 * DAY - founded).max(DAY);
        let j = self.h(i, S_JOINED);
        let joined = founded + (j % span as u64) as i64;
        let inv = self.h(i, S_INVITED);
        let (invited_on, joined_on) = if invited {
            (
                Some(EPOCH_END - 3600 - (inv % (120 * DAY) as u64) as i64),
                None,
            )
        } else {
            let invited_at =
                (inv % 100 < 85).then(|| joined - 600 - ((inv >> 8) % (14 * DAY) as u64) as i64);
            (invited_at, Some(joined))
        };
        let suspended_on = (status == MemberStatus::Suspended).then(|| {
            let room = (EPOCH_END - joined - 3600).max(3600) as u64;
            joined + 3600 + (self.h(i, S_SUSPENDED) % room) as i64
        });
        let p = self.h(i, S_PERSISTENT);
        let persistent_id = (p % 100 < 10).then(|| format!("{:016x}{:016x}", mix64(p), p));
        let d = self.h(i, S_DIRECTORY);
        let is_directory_restricted = (d % 100 < 25).then_some((d >> 20).is_multiple_of(5));
        let ph = self.h(i, S_PHOTO);
        let profile_photo_url = (!invited && ph % 100 < 30).then(|| {
            format!(
                "https://dl-web.dropbox.com/account_photo/get/dbaphid%3AAA{}?size=128x128&vers={}",
                b64_encode(&mix64(ph).to_be_bytes()),
                1_500_000_000_000 + (ph >> 24) % 200_000_000_000
            )
        });

        let g = self.h(i, S_GROUPS);
        let count = match g % 100 {
            0..30 => 0,
            30..65 => 1,
            65..90 => 2,
            _ => 3,
        };
        let mut groups: Vec<String> = Vec::with_capacity(count);
        let mut bits = g >> 8;
        for _ in 0..count {
            let id = &self.group_ids[(bits % GROUP_POOL as u64) as usize];
            bits >>= 6;
            if !groups.contains(id) {
                groups.push(id.clone());
            }
        }
        let folder_base = 1_000_000_000 + mix64(self.key ^ K_FOLDER) % 4_000_000_000;

        Member {
            team_member_id,
            external_id,
            account_id,
            email,
            email_verified,
            secondary_emails,
            status,
            name,
            membership_type,
            invited_on: invited_on.map(format_timestamp),
            joined_on: joined_on.map(format_timestamp),
            suspended_on: suspended_on.map(format_timestamp),
            persistent_id,
            is_directory_restricted,
            profile_photo_url,
            groups,
            member_folder_id: folder_base
                .wrapping_add((i as u64).wrapping_mul(2))
                .wrapping_add(1)
                .to_string(),
            root_folder_id: folder_base.to_string(),
            roles: role.map(Role::from_def).into_iter().collect(),
        }
    }
}

/// Formats Unix seconds as Dropbox's `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_timestamp(secs: i64) -> String {
    let days = secs.div_euclid(DAY);
    let rem = secs.rem_euclid(DAY);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// ---------------------------------------------------------------------------
// Names

struct FoldedNames {
    given: Vec<String>,
    surnames: Vec<String>,
}

fn names() -> &'static FoldedNames {
    static NAMES: OnceLock<FoldedNames> = OnceLock::new();
    NAMES.get_or_init(|| FoldedNames {
        given: GIVEN_NAMES.iter().map(|n| fold(n)).collect(),
        surnames: SURNAMES.iter().map(|n| fold(n)).collect(),
    })
}

/// Lower-case ASCII form of a name for email local parts: diacritics folded,
/// spaces and apostrophes dropped, hyphens kept.
fn fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let s: &str = match c {
            'a'..='z' | '0'..='9' | '-' => {
                out.push(c);
                continue;
            }
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'đ' | 'ð' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' | 'ễ' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'ı' => "i",
            'ł' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'ř' => "r",
            'ś' | 'š' | 'ş' => "s",
            'ß' => "ss",
            'ù' | 'ú' | 'û' | 'ü' | 'ű' | 'ů' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => "",
        };
        out.push_str(s);
    }
    out
}

#[rustfmt::skip]
const GIVEN_NAMES: &[&str] = &[
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony",
    "Margaret", "Mark", "Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily",
    "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda", "Brian",
    "Dorothy", "George", "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie", "Edward",
    "Rebecca", "Jason", "Sharon", "Jeffrey", "Laura", "Ryan", "Cynthia", "Jacob", "Kathleen",
    "Gary", "Amy", "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Anna", "Stephen",
    "Brenda", "Larry", "Pamela", "Justin", "Emma", "Scott", "Nicole", "Brandon", "Helen",
    "Benjamin", "Samantha", "Samuel", "Katherine", "Gregory", "Christine", "Alexander", "Debra",
    "Frank", "Rachel", "Patrick", "Carolyn", "Raymond", "Janet", "Jack", "Catherine", "Dennis",
    "Maria", "Jerry", "Heather", "Tyler", "Diane", "Aaron", "Ruth", "Adam", "Julie", "Nathan",
    "Olivia", "Henry", "Joyce", "Douglas", "Virginia", "Zachary", "Victoria", "Peter", "Kelly",
    "Kyle", "Lauren", "Ethan", "Christina", "Walter", "Joan", "Noah", "Evelyn", "Jeremy",
    "Judith", "Christian", "Megan", "Keith", "Andrea", "Roger", "Cheryl", "Terry", "Hannah",
    "Gerald", "Jacqueline", "Harold", "Martha", "Sean", "Gloria", "Austin", "Teresa", "Carl",
    "Ann", "Arthur", "Sara", "Lawrence", "Madison", "Dylan", "Frances", "Jesse", "Kathryn",
    "Jordan", "Janice", "Bryan", "Jean", "Billy", "Abigail", "Bruce", "Alice", "Gabriel",
    "Julia", "Logan", "Judy", "Albert", "Sophia", "Willie", "Grace", "Alan", "Denise", "Juan",
    "Amber", "Wayne", "Doris", "Elijah", "Marilyn", "Randy", "Danielle", "Roy", "Beverly",
    "Vincent", "Isabella", "Ralph", "Theresa", "Eugene", "Diana", "Russell", "Natalie", "Bobby",
    "Brittany", "Mason", "Charlotte", "Philip", "Marie", "Louis", "Kayla", "José", "Zoë",
    "Björn", "François", "Łukasz", "Søren", "Zoltán", "Chloé", "Renée", "Mónica", "Ana", "Luis",
    "Carlos", "Sofía", "Mateo", "Valentina", "Hiroshi", "Yuki", "Kenji", "Aiko", "Wei", "Mei",
    "Li", "Jun", "Priya", "Arjun", "Rahul", "Ananya", "Vikram", "Deepika", "Mohammed", "Fatima",
    "Omar", "Aisha", "Yusuf", "Layla", "Olga", "Dmitri", "Ivan", "Natasha", "Sven", "Ingrid",
    "Lars", "Astrid", "Pierre", "Camille", "Hans", "Greta", "Giulia", "Marco", "Luca",
    "Francesca", "Kwame", "Amara", "Chidi", "Ngozi", "Tariq", "Nadia", "Mariam", "Hamza",
    "Siobhan", "Niamh", "Liam", "Aoife", "Cian", "Jean-Luc", "Anne-Marie", "Zainab", "Thanh",
    "Minh", "Seo-yeon", "Ji-ho", "Mikael", "Elif", "Emre", "Ayşe", "Tomás", "Inês", "João",
    "Dagný", "Agnieszka", "Jiří", "Tereza",
];

#[rustfmt::skip]
const SURNAMES: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
    "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster",
    "Jimenez", "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler",
    "Henderson", "Barnes", "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan",
    "Patterson", "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno",
    "West", "Cole", "Hayes", "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina",
    "Aguilar", "Stevens", "Murray", "Ford", "Castro", "Marshall", "Owens", "Harrison",
    "Fernandez", "McDonald", "Woods", "Washington", "Kennedy", "Wells", "Vargas", "Henry",
    "Chen", "Freeman", "Webb", "Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson",
    "Porter", "Hunter", "Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason", "Dixon",
    "Muñoz", "Hunt", "Hicks", "Holmes", "Palmer", "Wagner", "Black", "Robertson", "Boyd",
    "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills", "Meyer", "Rice", "Schmidt", "Garza",
    "Daniels", "Ferguson", "Nichols", "Stephens", "Soto", "Weaver", "Ryan", "Gardner", "Payne",
    "Grant", "Dunn", "Kelley", "Spencer", "Hawkins", "Arnold", "Pierce", "Vazquez", "Hansen",
    "Peters", "Santos", "Hart", "Bradley", "Knight", "Elliott", "Cunningham", "Duncan",
    "Armstrong", "Hudson", "Carroll", "Lane", "Riley", "Andrews", "Alvarado", "Ray", "Delgado",
    "Berry", "Perkins", "Hoffman", "Johnston", "Matthews", "Peña", "Richards", "Willis",
    "Carpenter", "Sandoval", "O'Brien", "O'Connor", "Müller", "Schröder", "Yamamoto", "Tanaka",
    "Suzuki", "Watanabe", "Wang", "Zhang", "Liu", "Huang", "Singh", "Sharma", "Gupta", "Kumar",
    "Iyer", "Khan", "Ali", "Hassan", "Ahmed", "Ivanov", "Petrov", "Kowalski", "Nowak",
    "Wiśniewski", "Andersson", "Johansson", "Nielsen", "Jensen", "Dubois", "Lefèvre", "Rossi",
    "Bianchi", "Esposito", "Okafor", "Mensah", "Adeyemi", "Van der Berg", "De la Cruz",
    "Da Silva", "Park", "Choi", "Kang", "Haddad", "Cohen", "Levi", "Papadopoulos", "Novák",
    "Horváth", "Fitzgerald", "MacLeod", "Dvořák", "Yılmaz", "Öztürk", "Þórsson",
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn mix_is_invertible() {
        for x in [0u64, 1, 2, 12345, u64::MAX, 0xdead_beef_cafe_babe] {
            assert_eq!(unmix64(mix64(x)), x);
        }
    }

    #[test]
    fn timestamps_format() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(EPOCH_START), "2015-01-01T00:00:00Z");
        assert_eq!(format_timestamp(EPOCH_END), "2025-11-30T00:00:00Z");
        assert_eq!(format_timestamp(951_827_696), "2000-02-29T12:34:56Z");
    }

    #[test]
    fn folding_gives_ascii_local_parts() {
        assert_eq!(fold("O'Brien"), "obrien");
        assert_eq!(fold("Van der Berg"), "vanderberg");
        assert_eq!(fold("Łukasz"), "lukasz");
        assert_eq!(fold("Jean-Luc"), "jean-luc");
        assert_eq!(fold("Þórsson"), "orsson");
        for n in GIVEN_NAMES.iter().chain(SURNAMES) {
            let f = fold(n);
            assert!(f.len() >= 2, "{n} folds to {f}");
            assert!(f.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
        }
        assert!(GIVEN_NAMES.len() >= 250 && SURNAMES.len() >= 250);
    }

    #[test]
    fn members_are_deterministic_and_unique() {
        let a = Team::generate(5000, 7);
        let b = Team::generate(5000, 7);
        let c = Team::generate(5000, 8);
        let mut emails = HashSet::new();
        let mut ids = HashSet::new();
        let mut accounts = HashSet::new();
        let mut externals = HashSet::new();
        for i in 0..a.len() {
            let m = a.member(i);
            assert_eq!(m, b.member(i));
            assert_eq!(m.status, a.status(i));
            assert!(emails.insert(m.email.clone()));
            assert!(ids.insert(m.team_member_id.clone()));
            assert!(m.team_member_id.starts_with("dbmid:AA"));
            if let Some(acc) = &m.account_id {
                assert!(acc.starts_with("dbid:"));
                assert!(accounts.insert(acc.clone()));
            }
            if let Some(x) = &m.external_id {
                assert!(externals.insert(x.clone()));
            }
            assert!(m.email.ends_with(&format!(".{i}@{}", a.domain())));
            assert_eq!(m.email, m.email.to_lowercase());
        }
        assert_ne!(a.member(10), c.member(10));
    }

    #[test]
    fn distribution_and_forced_members() {
        let team = Team::generate(100_000, 42);
        let m0 = team.member(0);
        assert_eq!(m0.status, MemberStatus::Active);
        assert_eq!(m0.membership_type, MembershipType::Full);
        assert!(m0.is_team_admin());

        let small = Team::generate(20, 3);
        let statuses: HashSet<&str> = small.members().map(|m| m.status.tag()).collect();
        assert_eq!(statuses.len(), 4);
        let types: HashSet<MembershipType> = small.members().map(|m| m.membership_type).collect();
        assert_eq!(types.len(), 2);

        let mut counts: HashMap<&str, usize> = HashMap::new();
        let (mut limited, mut admins, mut external, mut no_roles) = (0, 0, 0, 0);
        for m in team.members() {
            *counts.entry(m.status.tag()).or_default() += 1;
            limited += usize::from(m.membership_type == MembershipType::Limited);
            admins += usize::from(!m.roles.is_empty());
            no_roles += usize::from(m.roles.is_empty());
            external += usize::from(m.external_id.is_some());
            match m.status {
                MemberStatus::Invited => {
                    assert!(m.invited_on.is_some() && m.joined_on.is_none());
                    assert!(m.account_id.is_none());
                }
                MemberStatus::Suspended => {
                    assert!(m.suspended_on.is_some() && m.joined_on.is_some());
                    assert!(m.suspended_on > m.joined_on);
                }
                _ => assert!(m.joined_on.is_some() && m.suspended_on.is_none()),
            }
            if let (Some(inv), Some(joined)) = (&m.invited_on, &m.joined_on) {
                assert!(inv < joined);
            }
            assert!(m.groups.len() <= 3);
        }
        let pct = |n: usize| n * 100 / team.len();
        assert!((78..=82).contains(&pct(counts["active"])), "{counts:?}");
        assert!((6..=8).contains(&pct(counts["invited"])), "{counts:?}");
        assert!((7..=9).contains(&pct(counts["suspended"])), "{counts:?}");
        assert!((4..=6).contains(&pct(counts["removed"])), "{counts:?}");
        assert!((9..=11).contains(&pct(limited)));
        assert!((4..=6).contains(&pct(admins)), "admins {admins}");
        assert!((69..=71).contains(&pct(external)));
        assert!(no_roles > 0);
    }

    #[test]
    fn lookups_are_exact() {
        let mut team = Team::generate(3000, 11);
        for i in [0usize, 1, 5, 999, 2999] {
            let m = team.member(i);
            assert_eq!(team.by_email(&m.email).map(|x| x.0), Some(i));
            assert_eq!(team.by_email(&m.email.to_uppercase()).map(|x| x.0), Some(i));
            assert_eq!(
                team.by_team_member_id(&m.team_member_id).map(|x| x.0),
                Some(i)
            );
            if let Some(x) = &m.external_id {
                assert_eq!(team.by_external_id(x).map(|x| x.0), Some(i));
            }
        }
        let m = team.member(7);
        // A valid-looking email whose index belongs to someone else.
        let forged = format!("someone.else.7@{}", team.domain());
        assert!(team.by_email(&forged).is_none());
        assert!(team.by_email("nobody@example.com").is_none());
        assert!(team.by_team_member_id("dbmid:AAxxxxxxxxxxx").is_none());
        let mut tampered = m.team_member_id.clone();
        tampered.push('x');
        assert!(team.by_team_member_id(&tampered).is_none());
        assert!(team.by_external_id("1").is_none());

        // Overlay: a changed email is found, the old one no longer is.
        let mut changed = m.clone();
        changed.email = "renamed@elsewhere.org".into();
        changed.status = MemberStatus::Suspended;
        team.set_member(7, changed);
        assert_eq!(team.by_email("Renamed@elsewhere.org").map(|x| x.0), Some(7));
        assert!(team.by_email(&m.email).is_none());
        assert_eq!(team.status(7), MemberStatus::Suspended);
        assert_eq!(
            team.by_team_member_id(&m.team_member_id).map(|x| x.0),
            Some(7)
        );
    }

    #[test]
    fn wire_shapes() {
        let team = Team::generate(20, 1);
        let removed = team.member(3);
        let v = removed.to_json(&WireStyle::default());
        assert_eq!(
            v["profile"]["status"],
            serde_json::json!({".tag": "removed", "is_recoverable": true, "is_disconnected": false})
        );
        assert_eq!(
            v["profile"]["membership_type"],
            serde_json::json!({".tag": "full"})
        );
        let bare = WireStyle {
            bare_union_tags: true,
            unknown_fields: false,
        };
        let v = team.member(0).to_json(&bare);
        assert_eq!(v["profile"]["status"], "active");
        assert_eq!(v["profile"]["membership_type"], "full");
        assert_eq!(v["roles"][0]["name"], "Team admin");
        let v = team.member(1).to_json(&WireStyle::default());
        assert!(v["profile"].get("joined_on").is_none());
        assert!(v["profile"].get("account_id").is_none());
        assert_eq!(v["roles"], serde_json::json!([]));

        let unknown = WireStyle {
            bare_union_tags: false,
            unknown_fields: true,
        };
        let big = Team::generate(10_000, 1);
        let odd = big
            .members()
            .filter(|m| m.to_json(&unknown)["profile"]["status"][".tag"] == "pending_verification")
            .count();
        assert!((50..=150).contains(&odd), "{odd}");
        assert_eq!(
            big.member(0).to_json(&unknown)["profile"]["future_field"],
            serde_json::json!({"x": 1})
        );
    }
}

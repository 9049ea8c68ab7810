//! The connector's manifest, assembled from the catalog (fields, default
//! mapping, fetch options, the host and its scopes) and the actions'
//! declarations. Kept apart from both so that neither depends on the other.

use crate::actions;
use crate::catalog::{MAX_PAGE_SIZE, OPTION_INCLUDE_REMOVED, SCOPES, default_mapping, field_infos};
use crate::client::API_ORIGIN;
use oomnitza_connector_sdk::types::{
    CredentialKind, HostRequirement, Manifest, ParamInfo, RecordKind, Value, ValueType,
};

/// The connector's manifest.
pub fn manifest() -> Manifest {
    Manifest {
        name: "dropbox".to_owned(),
        display_name: "Dropbox Users".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        record_kinds: vec![RecordKind::Users, RecordKind::SaasUsers],
        fields: field_infos(),
        default_mapping: default_mapping(),
        hosts: vec![HostRequirement {
            origin: API_ORIGIN.to_owned(),
            credential: CredentialKind::Oauth2Bearer,
            scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            purpose: "List the team's members and their roles (members.read: team/members/list_v2, list/continue_v2, get_info_v2, get_available_team_member_roles); suspend, unsuspend and change the admin role of members (members.write); remove members (members.delete: team/members/remove and its job status); read the team's member count and seats, for progress displays and reports (team_info.read: team/get_info; optional)."
                .to_owned(),
        }],
        fetch_options: vec![ParamInfo {
            name: OPTION_INCLUDE_REMOVED.to_owned(),
            label: "Include removed members".to_owned(),
            description: "also list removed members".to_owned(),
            ty: ValueType::Boolean,
            required: false,
            default: Some(Value::Boolean(false)),
        }],
        actions: actions::action_infos(),
        max_page_size: MAX_PAGE_SIZE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{FIELD_COUNT, FIELD_NAMES};

    #[test]
    fn manifest_is_complete() {
        let m = manifest();
        assert_eq!(m.name, "dropbox");
        assert_eq!(m.display_name, "Dropbox Users");
        assert_eq!(m.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(
            m.record_kinds,
            vec![RecordKind::Users, RecordKind::SaasUsers]
        );
        assert_eq!(m.max_page_size, 1000);
        assert_eq!(m.fields.len(), FIELD_COUNT);
        let unique: Vec<_> = m
            .fields
            .iter()
            .filter(|f| f.unique)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            unique,
            [
                "team_member_id",
                "account_id",
                "external_id",
                "email",
                "persistent_id",
                "member_folder_id"
            ]
        );
        assert_eq!(m.hosts.len(), 1);
        assert_eq!(m.hosts[0].origin, "https://api.dropboxapi.com");
        assert_eq!(m.hosts[0].credential, CredentialKind::Oauth2Bearer);
        assert_eq!(
            m.hosts[0].scopes,
            [
                "members.read",
                "members.write",
                "members.delete",
                "team_info.read"
            ]
        );
        assert_eq!(m.fetch_options.len(), 1);
        assert_eq!(m.fetch_options[0].name, "include_removed");
        assert_eq!(m.fetch_options[0].default, Some(Value::Boolean(false)));
        let actions: Vec<_> = m
            .actions
            .iter()
            .map(|a| (a.name.as_str(), a.destructive))
            .collect();
        assert_eq!(
            actions,
            [
                ("deactivate-user", true),
                ("reactivate-user", false),
                ("delete-user", true),
                ("get-user-role", false),
                ("set-user-role", true),
            ]
        );
        for a in &m.actions {
            assert!(
                !a.label.is_empty() && !a.description.is_empty(),
                "{}",
                a.name
            );
            for p in &a.params {
                assert!(
                    !p.label.is_empty() && !p.description.is_empty(),
                    "{}",
                    p.name
                );
                if let Some(d) = &p.default {
                    assert!(p.ty.admits(d), "{}.{} default", a.name, p.name);
                }
            }
        }
        let params = |name: &str| -> Vec<(String, ValueType, bool, Option<Value>)> {
            m.actions
                .iter()
                .find(|a| a.name == name)
                .map(|a| {
                    a.params
                        .iter()
                        .map(|p| (p.name.clone(), p.ty, p.required, p.default.clone()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let off = Some(Value::Boolean(false));
        let flag = |n: &str| (n.to_owned(), ValueType::Boolean, false, off.clone());
        let email = |n: &str| (n.to_owned(), ValueType::Text, false, None);
        assert_eq!(params("deactivate-user"), [flag("wipe-data")]);
        assert_eq!(params("reactivate-user"), []);
        assert_eq!(
            params("delete-user"),
            [
                flag("wipe-data"),
                email("transfer-destination-email"),
                email("transfer-admin-email"),
                flag("keep-account"),
                flag("retain-team-shares"),
            ]
        );
        assert_eq!(params("get-user-role"), []);
        assert_eq!(
            params("set-user-role"),
            [("role".to_owned(), ValueType::Text, true, None)]
        );
        let targets: Vec<_> = m
            .default_mapping
            .rules
            .iter()
            .map(|r| r.target.as_str())
            .collect();
        assert_eq!(
            targets,
            [
                "USER",
                "EMAIL",
                "FIRST_NAME",
                "LAST_NAME",
                "dropbox_user_id",
                "dropbox_status",
                "saas.sync_key",
                "saas.role"
            ]
        );
        assert_eq!(m.default_mapping.sync_key, vec!["EMAIL".to_owned()]);
        // The default mapping is valid against the catalog.
        assert!(
            oomnitza_connector_sdk::mapping::CompiledSpec::compile(
                &m.default_mapping,
                &FIELD_NAMES
            )
            .is_ok()
        );
    }
}

//! From mapped values to the bytes Oomnitza receives.
//!
//! A mapped record is positional (one value per rule of the spec), so the
//! shaper works out once per run where each rule's value goes: a top-level
//! key, or a key of the nested `saas` object in "User plus SaaS user"
//! mode. Each record is then written straight to JSON, with no map built
//! per record; the same bytes are fingerprinted, stored in the outbox and
//! posted.

use serde_json::{Map, Value as Json};

use crate::bindings::{MappingRule, MappingSpec, RuleSource, Value, to_json};
use crate::config::Mode;
use crate::integration::Integration;
use crate::oomnitza::wire::BulkRequest;

/// The target of the rule the host adds, in "User plus SaaS user" mode, to
/// learn each member's `status` (never sent: a removed member is no active
/// SaaS user).
pub const STATUS_TARGET: &str = "oomnitza-connect:status";

/// The spec a sync asks the component to apply: the operator's, plus, in
/// "User plus SaaS user" mode with a connector whose catalog has a `status`
/// field, a rule reading it into [`STATUS_TARGET`].
pub fn run_spec(integration: &Integration) -> MappingSpec {
    let mut spec = integration.spec.clone();
    let saas = integration.config.integration.mode == Mode::UserPlusSaas;
    let has_status = integration
        .manifest
        .fields
        .iter()
        .any(|f| f.name == "status");
    if saas && has_status && !spec.rules.iter().any(|r| r.target == STATUS_TARGET) {
        spec.rules.push(MappingRule {
            target: STATUS_TARGET.to_owned(),
            source: RuleSource::Field("status".to_owned()),
            transforms: vec![],
            required: false,
        });
    }
    spec
}

/// Where one rule's value goes.
#[derive(Debug, Clone)]
enum Slot {
    /// A top-level key (pre-escaped JSON string, with the colon).
    Top(String),
    /// A key of the `saas` object.
    Saas(String),
    /// Nowhere: a later rule has the same target (the last one wins), or
    /// a `saas.*` target outside "User plus SaaS user" mode.
    Skip,
}

/// Writes mapped records as Oomnitza JSON objects and derives their keys.
#[derive(Debug, Clone)]
pub struct RecordShaper {
    slots: Vec<Slot>,
    /// `"selected_saas_id":…,"name":…` for the `saas` object, when on.
    saas_fixed: Option<String>,
    /// Rule positions of the sync-key targets, in sync-key order.
    key_rules: Vec<Option<usize>>,
    /// Rule position of `saas.sync_key` (SaaS reconciliation), when on.
    saas_key_rule: Option<usize>,
    /// Keys a failed record's raw values may carry: the connector's catalog
    /// fields, minus every mapping target and sync key. A component cannot
    /// use a failure to send `USER`, `EMAIL` or a role of its choosing.
    raw_keys: std::collections::HashSet<String>,
    /// Rule position of [`STATUS_TARGET`], when the spec has it.
    status_rule: Option<usize>,
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

impl RecordShaper {
    pub fn new(integration: &Integration) -> Self {
        let cfg = &integration.config;
        let saas = match (cfg.integration.mode, &cfg.saas) {
            (Mode::UserPlusSaas, Some(s)) => {
                Some((s.saas_id.as_str(), s.app_name(&cfg.integration.name)))
            }
            _ => None,
        };
        let targets: Vec<&str> = integration
            .spec
            .rules
            .iter()
            .map(|r| r.target.as_str())
            .collect();
        let mut shaper = Self::from_targets(&targets, &integration.spec.sync_key, saas);
        shaper.raw_keys = raw_keys(
            integration.manifest.fields.iter().map(|f| f.name.as_str()),
            &targets,
            &integration.spec.sync_key,
        );
        shaper
    }

    /// Reads members' status where `spec` (the run's, see [`run_spec`])
    /// puts it. Rules the operator's spec lacks have no slot: their
    /// values are never written.
    pub fn reading_status(mut self, spec: &MappingSpec) -> Self {
        self.status_rule = spec.rules.iter().rposition(|r| r.target == STATUS_TARGET);
        self
    }

    pub(super) fn from_targets(
        targets: &[&str],
        sync_key: &[String],
        saas: Option<(&str, &str)>,
    ) -> Self {
        let last = |t: &str| targets.iter().rposition(|x| *x == t);
        let slots = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if last(t) != Some(i) || *t == STATUS_TARGET {
                    return Slot::Skip;
                }
                match t.strip_prefix("saas.") {
                    Some(_) if saas.is_none() => Slot::Skip,
                    // The host sets these two itself.
                    Some("selected_saas_id" | "name") => Slot::Skip,
                    Some(sub) => Slot::Saas(format!("{}:", json_string(sub))),
                    None => Slot::Top(format!("{}:", json_string(t))),
                }
            })
            .collect();
        RecordShaper {
            slots,
            saas_fixed: saas.map(|(id, name)| {
                format!(
                    "\"selected_saas_id\":{},\"name\":{}",
                    json_string(id),
                    json_string(name)
                )
            }),
            key_rules: sync_key.iter().map(|k| last(k)).collect(),
            saas_key_rule: saas.and_then(|_| last("saas.sync_key")),
            raw_keys: Default::default(),
            status_rule: last(STATUS_TARGET),
        }
    }

    /// Whether the record is a removed member: no active SaaS user, so it
    /// carries no `saas` object and has no SaaS key.
    pub fn is_removed(&self, values: &[Value]) -> bool {
        self.status_rule
            .and_then(|r| values.get(r))
            .is_some_and(|v| matches!(v, Value::Text(s) if s == "removed"))
    }

    /// Appends the record's JSON object to `out`.
    pub fn write_mapped(&self, values: &[Value], out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        for (slot, v) in self.slots.iter().zip(values) {
            if let Slot::Top(key) = slot {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(key.as_bytes());
                write_value(v, out);
            }
        }
        if let Some(fixed) = self
            .saas_fixed
            .as_ref()
            .filter(|_| !self.is_removed(values))
        {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(b"\"saas\":{");
            for (slot, v) in self.slots.iter().zip(values) {
                if let Slot::Saas(key) = slot {
                    out.extend_from_slice(key.as_bytes());
                    write_value(v, out);
                    out.push(b',');
                }
            }
            out.extend_from_slice(fixed.as_bytes());
            out.push(b'}');
        }
        out.push(b'}');
    }

    /// The record's identity in Oomnitza: its sync-key values, lower-cased,
    /// joined by 0x1f, written into `out` (cleared first).
    pub fn write_key(&self, values: &[Value], out: &mut String) {
        out.clear();
        for (i, rule) in self.key_rules.iter().enumerate() {
            if i > 0 {
                out.push('\u{1f}');
            }
            if let Some(v) = rule.and_then(|r| values.get(r)) {
                key_text(v, out);
            }
        }
    }

    /// The `saas.sync_key` value, lower-cased, in "User plus SaaS user"
    /// mode; `None` for a removed member.
    pub fn saas_key(&self, values: &[Value]) -> Option<String> {
        if self.is_removed(values) {
            return None;
        }
        match values.get(self.saas_key_rule?)? {
            Value::Text(s) | Value::Timestamp(s) if !s.is_empty() => Some(s.to_ascii_lowercase()),
            _ => None,
        }
    }

    /// A record that failed mapping is still sent, raw, with the reason.
    pub fn write_failed(&self, raw: Vec<(String, Value)>, reason: &str, out: &mut Vec<u8>) {
        let mut obj: Map<String, Json> = raw
            .into_iter()
            .filter(|(k, _)| self.raw_keys.contains(k))
            .map(|(k, v)| (k, to_json(v)))
            .collect();
        obj.insert("error".into(), Json::String(reason.to_string()));
        // Writing a map of plain JSON values into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &obj);
    }
}

/// Catalog field names that no mapping target, sync key or host-owned key
/// (`error`, `saas`) shadows. Oomnitza keys are case-sensitive (`EMAIL` is
/// the people field, `email` is not a mapping key), so the names compare
/// exactly.
fn raw_keys<'a>(
    catalog: impl Iterator<Item = &'a str>,
    targets: &[&str],
    sync_key: &[String],
) -> std::collections::HashSet<String> {
    let taken = |k: &str| {
        targets.contains(&k) || sync_key.iter().any(|t| t == k) || ["error", "saas"].contains(&k)
    };
    catalog.filter(|k| !taken(k)).map(str::to_owned).collect()
}

fn write_value(v: &Value, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = match v {
        Value::Null => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        Value::Text(s) | Value::Timestamp(s) => serde_json::to_writer(&mut *out, s),
        Value::Boolean(b) => serde_json::to_writer(&mut *out, b),
        Value::Integer(i) => serde_json::to_writer(&mut *out, i),
        Value::TextList(l) => serde_json::to_writer(&mut *out, l),
    };
}

fn key_text(v: &Value, out: &mut String) {
    match v {
        Value::Null => {}
        Value::Text(s) | Value::Timestamp(s) => {
            out.extend(s.chars().map(|c| c.to_ascii_lowercase()));
        }
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => out.push_str(&i.to_string()),
        Value::TextList(l) => out.push_str(&l.join(",").to_ascii_lowercase()),
    }
}

/// The constant parts of a run's bulk requests: the body is
/// `prefix + records + suffix`, where `records` is a JSON array.
#[derive(Debug, Clone)]
pub struct Envelope {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
}

impl Envelope {
    /// Splits the serialized request at its (empty) `records` array. Inside
    /// a JSON string every quote is escaped, so the marker is found only as
    /// the key itself.
    pub fn new(req: &BulkRequest<'_>) -> anyhow::Result<Self> {
        let body = serde_json::to_vec(req)?;
        let marker = b"\"records\":[]";
        let at = body
            .windows(marker.len())
            .position(|w| w == marker)
            .ok_or_else(|| anyhow::anyhow!("bulk request has no records array"))?;
        let split = at + marker.len() - 2;
        Ok(Envelope {
            prefix: body[..split].to_vec(),
            suffix: body[split + 2..].to_vec(),
        })
    }

    pub fn body(&self, records: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.prefix.len() + records.len() + self.suffix.len());
        b.extend_from_slice(&self.prefix);
        b.extend_from_slice(records);
        b.extend_from_slice(&self.suffix);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    fn shaped(shaper: &RecordShaper, values: &[Value]) -> Json {
        let mut out = Vec::new();
        shaper.write_mapped(values, &mut out);
        serde_json::from_slice(&out).expect("valid JSON")
    }

    #[test]
    fn user_fields_and_nested_saas() {
        let targets = ["USER", "EMAIL", "saas.sync_key", "saas.role", "N"];
        let values = [
            text("A@x.com"),
            text("a@x.com"),
            text("a@x.com"),
            Value::Null,
            Value::Integer(25),
        ];
        let user_only = RecordShaper::from_targets(&targets, &["USER".into()], None);
        assert_eq!(
            shaped(&user_only, &values),
            serde_json::json!({"USER": "A@x.com", "EMAIL": "a@x.com", "N": 25})
        );
        let saas = RecordShaper::from_targets(&targets, &["USER".into()], Some(("9", "Dropbox")));
        assert_eq!(
            shaped(&saas, &values),
            serde_json::json!({"USER": "A@x.com", "EMAIL": "a@x.com", "N": 25,
                "saas": {"sync_key": "a@x.com", "role": null, "selected_saas_id": "9", "name": "Dropbox"}})
        );
        assert_eq!(saas.saas_key(&values).as_deref(), Some("a@x.com"));
        assert_eq!(user_only.saas_key(&values), None);
        let mut key = String::new();
        saas.write_key(&values, &mut key);
        assert_eq!(key, "a@x.com");
    }

    #[test]
    fn a_removed_member_carries_no_saas_object_and_no_saas_key() {
        let targets = ["EMAIL", "saas.sync_key", STATUS_TARGET];
        let saas = RecordShaper::from_targets(&targets, &["EMAIL".into()], Some(("9", "Dropbox")));
        let member = |status: &str| [text("a@x.com"), text("A@x.com"), text(status)];
        assert_eq!(
            shaped(&saas, &member("removed")),
            serde_json::json!({"EMAIL": "a@x.com"})
        );
        assert_eq!(saas.saas_key(&member("removed")), None);
        for status in ["active", "suspended", "invited", ""] {
            assert_eq!(
                shaped(&saas, &member(status)),
                serde_json::json!({"EMAIL": "a@x.com", "saas": {"sync_key": "A@x.com", "selected_saas_id": "9", "name": "Dropbox"}}),
                "{status}"
            );
            assert_eq!(saas.saas_key(&member(status)).as_deref(), Some("a@x.com"));
        }
        // The status rule itself is never sent.
        let user_only = RecordShaper::from_targets(&targets, &["EMAIL".into()], None);
        assert_eq!(
            shaped(&user_only, &member("active")),
            serde_json::json!({"EMAIL": "a@x.com"})
        );
    }

    #[test]
    fn the_last_rule_for_a_target_wins_and_text_is_escaped() {
        let targets = ["K", "K\"", "K"];
        let values = [
            text("first"),
            text("q\"\n"),
            Value::TextList(vec!["a".into()]),
        ];
        let s = RecordShaper::from_targets(&targets, &["K".into(), "K\"".into()], None);
        assert_eq!(
            shaped(&s, &values),
            serde_json::json!({"K\"": "q\"\n", "K": ["a"]})
        );
        let mut key = String::new();
        s.write_key(&values, &mut key);
        assert_eq!(key, "a\u{1f}q\"\n");
    }

    #[test]
    fn a_failed_record_carries_only_catalog_fields_no_target_or_key() {
        let targets = ["USER", "EMAIL", "PERMISSIONS_ID", "dropbox_id"];
        let mut s = RecordShaper::from_targets(&targets, &["EMAIL".into()], None);
        s.raw_keys = raw_keys(
            ["email", "given_name", "dropbox_id", "status"].into_iter(),
            &targets,
            &["EMAIL".into()],
        );
        // What a hostile component puts in `map-failure.raw`.
        let raw = vec![
            ("USER".to_owned(), text("victim@corp.com")),
            ("EMAIL".to_owned(), text("victim@corp.com")),
            ("PERMISSIONS_ID".to_owned(), text("Admin")),
            ("dropbox_id".to_owned(), text("shadowed target")),
            ("error".to_owned(), text("spoofed")),
            ("saas".to_owned(), text("spoofed")),
            ("not_in_catalog".to_owned(), text("x")),
            ("email".to_owned(), text("leaver@corp.com")),
            ("status".to_owned(), text("active")),
        ];
        let mut out = Vec::new();
        s.write_failed(raw, "email is empty", &mut out);
        let got: Json = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            got,
            serde_json::json!({"email": "leaver@corp.com", "status": "active", "error": "email is empty"})
        );
    }

    #[test]
    fn the_envelope_wraps_records_exactly_as_serde_would() {
        let sync_field = vec!["USER".to_owned()];
        let records: Vec<Map<String, Json>> = vec![
            serde_json::from_str(r#"{"USER":"a"}"#).unwrap(),
            serde_json::from_str(r#"{"USER":"b"}"#).unwrap(),
        ];
        let req = |records| BulkRequest {
            connector_version: "1",
            connector_name: "n \"records\":[] x",
            portion: "p",
            data_type: "users",
            sync_field: &sync_field,
            insert_only: false,
            update_only: true,
            test_run: false,
            records,
            error: None,
        };
        let env = Envelope::new(&req(&[])).unwrap();
        assert_eq!(
            env.body(br#"[{"USER":"a"},{"USER":"b"}]"#),
            serde_json::to_vec(&req(&records)).unwrap()
        );
    }

    #[test]
    fn host_owned_and_out_of_mode_saas_targets_are_never_written() {
        let targets = ["EMAIL", "saas.selected_saas_id", "saas.name", "saas.role"];
        let values = [
            text("a@x.com"),
            text("spoofed-id"),
            text("spoofed-name"),
            text("admin"),
        ];
        let saas = RecordShaper::from_targets(&targets, &["EMAIL".into()], Some(("9", "App")));
        assert_eq!(
            shaped(&saas, &values),
            serde_json::json!({"EMAIL": "a@x.com",
                "saas": {"role": "admin", "selected_saas_id": "9", "name": "App"}})
        );
        let user_only = RecordShaper::from_targets(&targets, &["EMAIL".into()], None);
        assert_eq!(
            shaped(&user_only, &values),
            serde_json::json!({"EMAIL": "a@x.com"})
        );
    }

    #[test]
    fn values_keep_their_json_types() {
        let targets = ["T", "S", "B", "I", "L", "N"];
        let values = [
            Value::Timestamp("2026-01-02T03:04:05Z".into()),
            text("x"),
            Value::Boolean(true),
            Value::Integer(-3),
            Value::TextList(vec!["a".into(), "b".into()]),
            Value::Null,
        ];
        let s = RecordShaper::from_targets(&targets, &["S".into()], None);
        let mut out = Vec::new();
        s.write_mapped(&values, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"T":"2026-01-02T03:04:05Z","S":"x","B":true,"I":-3,"L":["a","b"],"N":null}"#
        );
        // Fewer values than rules (a short record): only what is there.
        let mut out = Vec::new();
        s.write_mapped(&values[..2], &mut out);
        assert_eq!(out, br#"{"T":"2026-01-02T03:04:05Z","S":"x"}"#);
    }

    #[test]
    fn a_key_joins_the_sync_key_values_lower_cased_in_sync_key_order() {
        let targets = ["N", "EMAIL", "FLAG", "LIST"];
        let values = [
            Value::Integer(7),
            text("A@X.com"),
            Value::Boolean(false),
            Value::TextList(vec!["X".into(), "y".into()]),
        ];
        let key = |sync_key: &[&str]| {
            let sync_key: Vec<String> = sync_key.iter().map(|k| k.to_string()).collect();
            let s = RecordShaper::from_targets(&targets, &sync_key, None);
            let mut out = String::from("left over");
            s.write_key(&values, &mut out);
            out
        };
        assert_eq!(key(&["EMAIL", "N"]), "a@x.com\u{1f}7");
        assert_eq!(key(&["FLAG", "LIST"]), "false\u{1f}x,y");
        // A sync key no rule maps is an empty part, not a shifted one.
        assert_eq!(key(&["MISSING", "EMAIL"]), "\u{1f}a@x.com");
        // Same values, same key; another value, another key.
        assert_eq!(key(&["EMAIL"]), "a@x.com");
        assert_ne!(key(&["EMAIL"]), key(&["N"]));
    }

    #[test]
    fn an_empty_or_non_text_saas_key_is_none() {
        let targets = ["saas.sync_key"];
        let s = RecordShaper::from_targets(&targets, &[], Some(("9", "App")));
        assert_eq!(s.saas_key(&[text("")]), None);
        assert_eq!(s.saas_key(&[Value::Integer(3)]), None);
        assert_eq!(s.saas_key(&[Value::Null]), None);
        assert_eq!(
            s.saas_key(&[text("Mixed@Case")]).as_deref(),
            Some("mixed@case")
        );
    }

    #[test]
    fn an_envelope_needs_its_records_array() {
        let sync_field = vec!["USER".to_owned()];
        let env = Envelope::new(&BulkRequest {
            connector_version: "1",
            connector_name: "n",
            portion: "p",
            data_type: "users",
            sync_field: &sync_field,
            insert_only: false,
            update_only: false,
            test_run: true,
            records: &[],
            error: Some("e"),
        })
        .unwrap();
        let body: Json = serde_json::from_slice(&env.body(b"[]")).unwrap();
        assert_eq!(body["records"], serde_json::json!([]));
        assert_eq!(
            (body["test_run"].clone(), body["error"].clone()),
            (Json::Bool(true), Json::from("e"))
        );
    }
}

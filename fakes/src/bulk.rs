//! The fake Oomnitza's bulk fast path: a single-pass typed parse of
//! `POST /api/v3/bulk` bodies, user records (parsed, [`Record`], or as the
//! JSON text they are stored as) and a fast hasher for the sync-key
//! indexes.
//!
//! The fake stores each user record as its JSON text (see `Users` in
//! `oomnitza.rs`), so a bulk request need not build a `serde_json::Value`
//! per field of every record: [`parse`] checks the whole body as strictly as
//! parsing it into `Value`s would (same JSON grammar, same number and string
//! rules), keeps only what the upsert needs from each record (`error`,
//! `saas` and the sync fields, as `Value`s) and the byte span of the
//! record's own text, which is stored as it came. The parse only takes
//! bodies of exactly the documented shape (every field once, of its type,
//! `sync_field` before `records`, record keys without escapes); anything
//! else is `None`, and the caller then runs the general `Value`-based
//! validation, which gives the documented errors, so answers are the same
//! either way.

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock, RwLock};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::server::{read, write};

// ---------------------------------------------------------------------------
// Records

/// One user record (bulk keys), parsed: its fields in order, each name
/// once. Field names are shared between records.
#[derive(Debug, Clone, Default)]
pub(crate) struct Record {
    fields: Vec<(Arc<str>, Value)>,
}

impl Record {
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| v)
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value` (replacing its value if it has one).
    pub(crate) fn insert(&mut self, key: Arc<str>, value: Value) {
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.fields.push((key, value)),
        }
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<Value> {
        let at = self.fields.iter().position(|(k, _)| &**k == key)?;
        Some(self.fields.remove(at).1)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (&**k, v))
    }

    /// Every `(name, value)` of `self`, moved out.
    pub(crate) fn into_fields(self) -> impl Iterator<Item = (Arc<str>, Value)> {
        self.fields.into_iter()
    }

    /// The record as a JSON object.
    pub(crate) fn to_map(&self) -> Map<String, Value> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    pub(crate) fn from_map(map: Map<String, Value>) -> Record {
        Record {
            fields: map.into_iter().map(|(k, v)| (Arc::from(k), v)).collect(),
        }
    }

    /// The record as compact JSON text (fields in their order).
    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Serializing strings, numbers and maps into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (k, v) in &self.fields {
            map.serialize_entry(&**k, v)?;
        }
        map.end()
    }
}

/// A stored record's JSON text as a [`Record`]; `None` if it is not a JSON
/// object. `names` shares field names (see [`Names::new`]).
pub(crate) fn parse_record(text: &[u8], names: &mut Names) -> Option<Record> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let mut scratch = Vec::new();
    let record = RecordSeed {
        names,
        scratch: &mut scratch,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    Some(record)
}

/// One bulk record as the upsert needs it: its JSON text and the values of
/// the fields it looks at.
#[derive(Debug)]
pub(crate) struct RecordIn<'a> {
    /// The record's JSON text (an object), as sent.
    pub(crate) text: Cow<'a, [u8]>,
    /// `error`, if the record has that field (null included).
    pub(crate) error: Option<Value>,
    /// `saas`, if the record has that field.
    pub(crate) saas: Option<Value>,
    /// The value of each sync field (parallel to the request's
    /// `sync_field`), if the record has it.
    pub(crate) sync: Vec<Option<Value>>,
}

impl RecordIn<'static> {
    /// A record parsed by the general path.
    pub(crate) fn from_map(map: &Map<String, Value>, sync_field: &[String]) -> RecordIn<'static> {
        RecordIn {
            text: Cow::Owned(serde_json::to_vec(map).unwrap_or_else(|_| b"{}".to_vec())),
            error: map.get("error").cloned(),
            saas: map.get("saas").cloned(),
            sync: sync_field.iter().map(|f| map.get(f).cloned()).collect(),
        }
    }
}

// ---------------------------------------------------------------------------
// The typed parse

/// A `POST /api/v3/bulk` body of exactly the documented shape and types
/// (values not yet checked: see the caller).
#[derive(Debug)]
pub(crate) struct BulkWire<'a> {
    pub(crate) connector_name: String,
    pub(crate) portion: String,
    pub(crate) data_type: String,
    pub(crate) sync_field: Vec<String>,
    pub(crate) insert_only: bool,
    pub(crate) update_only: bool,
    pub(crate) test_run: bool,
    pub(crate) records: Vec<RecordIn<'a>>,
    pub(crate) error: Option<String>,
}

/// `body` as a [`BulkWire`]; `None` for anything else (see the module docs).
pub(crate) fn parse(body: &[u8]) -> Option<BulkWire<'_>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let wire = de.deserialize_map(BulkVisitor { body }).ok()?;
    de.end().ok()?;
    Some(wire)
}

/// Any error: the caller falls back to the general path for the message.
fn reject<E: de::Error>() -> E {
    E::custom("not the fast path")
}

struct BulkVisitor<'a> {
    body: &'a [u8],
}

impl<'de> Visitor<'de> for BulkVisitor<'de> {
    type Value = BulkWire<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a bulk request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BulkWire<'de>, A::Error> {
        let mut connector_version: Option<String> = None;
        let mut connector_name: Option<String> = None;
        let mut portion: Option<String> = None;
        let mut data_type: Option<String> = None;
        let mut sync_field: Option<Vec<String>> = None;
        let mut insert_only: Option<bool> = None;
        let mut update_only: Option<bool> = None;
        let mut test_run: Option<bool> = None;
        let mut records: Option<Vec<RecordIn<'de>>> = None;
        let mut error: Option<Option<String>> = None;
        let mut records_first = false;
        fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
            match slot.replace(value) {
                Some(_) => Err(reject()),
                None => Ok(()),
            }
        }
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key.0 {
                "connector_version" => once(&mut connector_version, map.next_value()?)?,
                "connector_name" => once(&mut connector_name, map.next_value()?)?,
                "portion" => once(&mut portion, map.next_value()?)?,
                "data_type" => once(&mut data_type, map.next_value()?)?,
                "sync_field" => once(&mut sync_field, map.next_value()?)?,
                "insert_only" => once(&mut insert_only, map.next_value()?)?,
                "update_only" => once(&mut update_only, map.next_value()?)?,
                "test_run" => once(&mut test_run, map.next_value()?)?,
                "records" => {
                    // Read knowing the sync fields, if they came first.
                    let seed = RecordsSeed {
                        body: self.body,
                        sync_field: sync_field.as_deref().unwrap_or_default(),
                    };
                    once(&mut records, map.next_value_seed(seed)?)?;
                    records_first = sync_field.is_none();
                }
                "error" => once(&mut error, map.next_value()?)?,
                _ => return Err(reject()),
            }
        }
        let sync_field = sync_field.ok_or_else(reject)?;
        let mut records = records.ok_or_else(reject)?;
        if records_first {
            // The sync fields' values, from each record's text.
            for record in &mut records {
                if let Cow::Borrowed(text) = record.text
                    && text != b"{}"
                {
                    record.sync = sync_values(text, &sync_field).ok_or_else(reject)?;
                } else {
                    record.sync = vec![None; sync_field.len()];
                }
            }
        }
        Ok(BulkWire {
            connector_name: connector_name.ok_or_else(reject)?,
            portion: portion.ok_or_else(reject)?,
            data_type: data_type.ok_or_else(reject)?,
            sync_field,
            insert_only: insert_only.ok_or_else(reject)?,
            update_only: update_only.ok_or_else(reject)?,
            test_run: test_run.ok_or_else(reject)?,
            records,
            error: error.flatten(),
        })
    }
}

/// An object key, borrowed from the body when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Names serde_json gives a meaning of its own when some of its features
/// are on (`raw_value`, `arbitrary_precision`) start with this: such a key
/// is left to the general path, which parses it as `Value` does.
const SERDE_JSON_PRIVATE: char = '$';

/// `records`: an array of objects.
struct RecordsSeed<'a, 'f> {
    body: &'a [u8],
    sync_field: &'f [String],
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'de, '_> {
    type Value = Vec<RecordIn<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'de, '_> {
    type Value = Vec<RecordIn<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(record) = seq.next_element_seed(RecordInSeed {
            body: self.body,
            sync_field: self.sync_field,
        })? {
            records.push(record);
        }
        Ok(records)
    }
}

/// One record of a bulk body: checked like a `Value` parse would, the
/// fields the upsert needs kept, its text located in the body.
struct RecordInSeed<'a, 'f> {
    body: &'a [u8],
    sync_field: &'f [String],
}

impl<'de> DeserializeSeed<'de> for RecordInSeed<'de, '_> {
    type Value = RecordIn<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordInSeed<'de, '_> {
    type Value = RecordIn<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RecordIn<'de>, A::Error> {
        let mut record = RecordIn {
            text: Cow::Borrowed(b"{}"),
            error: None,
            saas: None,
            sync: vec![None; self.sync_field.len()],
        };
        // Where the first key starts and the last one ends, in the body.
        let mut first: Option<usize> = None;
        let mut last_end = 0;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let Cow::Borrowed(key) = key.0 else {
                return Err(reject());
            };
            if key.starts_with(SERDE_JSON_PRIVATE) {
                return Err(reject());
            }
            let at = offset_in(self.body, key).ok_or_else(reject)?;
            first.get_or_insert(at);
            last_end = at + key.len();
            let wanted =
                key == "error" || key == "saas" || self.sync_field.iter().any(|f| f == key);
            if !wanted {
                map.next_value::<Checked>()?;
                continue;
            }
            let value: Value = map.next_value()?;
            for (slot, field) in record.sync.iter_mut().zip(self.sync_field) {
                if field == key {
                    *slot = Some(value.clone());
                }
            }
            match key {
                "error" => record.error = Some(value),
                "saas" => record.saas = Some(value),
                _ => {}
            }
        }
        if let Some(first) = first {
            let span = record_span(self.body, first, last_end).ok_or_else(reject)?;
            record.text = Cow::Borrowed(self.body.get(span).ok_or_else(reject)?);
        }
        Ok(record)
    }
}

/// The values of `sync_field` in a record's text (checked already).
fn sync_values(text: &[u8], sync_field: &[String]) -> Option<Vec<Option<Value>>> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let record = RecordInSeed {
        body: text,
        sync_field,
    }
    .deserialize(&mut de)
    .ok()?;
    Some(record.sync)
}

/// Where `part` (a slice of `body`) starts in `body`.
fn offset_in(body: &[u8], part: &str) -> Option<usize> {
    let at = (part.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    (at + part.len() <= body.len()).then_some(at)
}

/// The span of the object whose first key's text starts at `first` and
/// whose last key's text ends at `last_end` (both inside the quotes), in
/// `body`, valid JSON.
fn record_span(body: &[u8], first: usize, last_end: usize) -> Option<std::ops::Range<usize>> {
    // Back from the first key's opening quote, over whitespace, to `{`.
    let mut start = first.checked_sub(1)?;
    if body.get(start) != Some(&b'"') {
        return None;
    }
    loop {
        start = start.checked_sub(1)?;
        match body.get(start)? {
            b'{' => break,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => return None,
        }
    }
    // From the last key's closing quote: `:`, its value, `}`.
    if body.get(last_end) != Some(&b'"') {
        return None;
    }
    let mut i = skip_ws(body, last_end + 1);
    if body.get(i) != Some(&b':') {
        return None;
    }
    i = skip_value(body, skip_ws(body, i + 1))?;
    i = skip_ws(body, i);
    (body.get(i) == Some(&b'}')).then_some(start..i + 1)
}

fn skip_ws(body: &[u8], mut i: usize) -> usize {
    while matches!(body.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Past the JSON value starting at `i` (valid JSON).
fn skip_value(body: &[u8], mut i: usize) -> Option<usize> {
    match body.get(i)? {
        b'"' => skip_string(body, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match body.get(i)? {
                    b'"' => {
                        i = skip_string(body, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            while !matches!(
                body.get(i),
                None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            ) {
                i += 1;
            }
            Some(i)
        }
    }
}

/// Past the string whose opening quote is at `i`.
fn skip_string(body: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match body.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// Any JSON value, checked as a `Value` parse checks it (serde_json parses
/// strings and numbers the same way for both) but not kept.
struct Checked;

impl<'de> de::Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Checked, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if key.0.starts_with(SERDE_JSON_PRIVATE) {
                return Err(reject());
            }
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

// ---------------------------------------------------------------------------
// Parsing a record

/// Field names, shared by all records: a parse starts from a copy of the
/// names seen so far (process-wide) and adds those it finds.
pub(crate) struct Names(Vec<Arc<str>>);

/// Beyond this many distinct names, new names are not shared.
const MAX_SHARED_NAMES: usize = 256;

fn shared_names() -> &'static RwLock<Vec<Arc<str>>> {
    static NAMES: OnceLock<RwLock<Vec<Arc<str>>>> = OnceLock::new();
    NAMES.get_or_init(RwLock::default)
}

impl Names {
    pub(crate) fn new() -> Names {
        Names(read(shared_names()).clone())
    }

    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.0.iter().find(|k| &***k == name) {
            return Arc::clone(known);
        }
        let name: Arc<str> = Arc::from(name);
        if self.0.len() < MAX_SHARED_NAMES {
            self.0.push(Arc::clone(&name));
            let mut shared = write(shared_names());
            if shared.len() < MAX_SHARED_NAMES && !shared.contains(&name) {
                shared.push(Arc::clone(&name));
            }
        }
        name
    }
}

/// One record: an object, parsed into `scratch` then moved into a
/// [`Record`] of exactly its size.
struct RecordSeed<'a> {
    names: &'a mut Names,
    scratch: &'a mut Vec<(Arc<str>, Value)>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Record;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Record, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        self.scratch.clear();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value: Value = map.next_value()?;
            // A repeated name: the last value wins, as in a JSON object.
            match self.scratch.iter_mut().find(|(k, _)| **k == *key.0) {
                Some((_, v)) => *v = value,
                None => self.scratch.push((self.names.get(&key.0), value)),
            }
        }
        Ok(Record {
            fields: self.scratch.drain(..).collect(),
        })
    }
}

// ---------------------------------------------------------------------------
// Hashing

/// A fast, non-cryptographic hasher for the fake's own indexes (their keys
/// are sync-key values a client sends; hash flooding is no concern here).
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // The splitmix64 finalizer: every input bit reaches every output
        // bit, low bits (the bucket) included.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub(crate) type FastBuild = BuildHasherDefault<FastHasher>;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(extra: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
        let mut v = json!({
            "connector_version": "1.0.0",
            "connector_name": "Dropbox Users",
            "portion": "6f1c4c1e-2a9b-4b5e-9d0b-6a4f2f7c9e10",
            "data_type": "users",
            "sync_field": ["EMAIL"],
            "insert_only": false,
            "update_only": false,
            "test_run": false,
            "records": [{"EMAIL": "a@b.c", "N": 1}, {"EMAIL": "d@e.f", "x": {"y": [1, null]}}],
            "error": null,
        });
        if let Value::Object(m) = &mut v {
            extra(m);
        }
        v.to_string().into_bytes()
    }

    fn text_of(r: &RecordIn) -> Value {
        serde_json::from_slice(&r.text).unwrap()
    }

    #[test]
    fn parses_the_documented_shape() {
        let text = body(|_| {});
        let wire = parse(&text).expect("fast path");
        assert_eq!(wire.records.len(), 2);
        assert_eq!(wire.records[0].sync, [Some(json!("a@b.c"))]);
        assert_eq!(text_of(&wire.records[0]), json!({"EMAIL": "a@b.c", "N": 1}));
        assert_eq!(
            text_of(&wire.records[1]),
            json!({"EMAIL": "d@e.f", "x": {"y": [1, null]}})
        );
        assert!(wire.records[1].error.is_none() && wire.records[1].saas.is_none());
        assert!(wire.error.is_none());
        let text = body(|m| {
            m.remove("connector_version");
            m.remove("error");
        });
        let wire = parse(&text).expect("optional fields");
        assert_eq!(wire.sync_field, ["EMAIL"]);
        let text = body(|m| {
            m.insert("error".into(), json!("boom"));
        });
        let wire = parse(&text).expect("error string");
        assert_eq!(wire.error.as_deref(), Some("boom"));
    }

    #[test]
    fn records_are_found_whatever_their_layout() {
        // Whitespace, escaped values, a repeated field, nested values last,
        // `error`, `saas`, two sync fields, an empty record.
        let text = concat!(
            "{\"connector_name\":\"n\",\"portion\":\"p\",\"data_type\":\"users\",",
            "\"sync_field\":[\"A\",\"B\"],\"insert_only\":false,\"update_only\":false,",
            "\"test_run\":false,\"records\":[ {\n \"A\" : \"x\\\"}\" , \"B\":1,\"B\":2 } ,",
            "{\"A\":\"y\",\"error\":null,\"saas\":{\"sync_key\":\"k\"},\"z\":[{\"}\":\"]\"},-1.5e3]},",
            "{},{\"A\":\"w\",\"q\":true},{\"A\":\"v\",\"n\":null} ]}"
        );
        let wire = parse(text.as_bytes()).expect("fast path");
        let texts: Vec<Value> = wire.records.iter().map(text_of).collect();
        assert_eq!(
            texts,
            [
                json!({"A": "x\"}", "B": 2}),
                json!({"A": "y", "error": null, "saas": {"sync_key": "k"}, "z": [{"}": "]"}, -1500.0]}),
                json!({}),
                json!({"A": "w", "q": true}),
                json!({"A": "v", "n": null}),
            ]
        );
        assert_eq!(wire.records[0].sync, [Some(json!("x\"}")), Some(json!(2))]);
        assert_eq!(wire.records[1].error, Some(Value::Null));
        assert_eq!(wire.records[1].saas, Some(json!({"sync_key": "k"})));
        assert_eq!(wire.records[2].sync, [None, None]);
    }

    #[test]
    fn anything_else_takes_the_general_path() {
        let mut cases: Vec<Vec<u8>> = vec![
            body(|m| {
                m.insert("extra".into(), json!(1));
            }),
            body(|m| {
                m.insert("connector_version".into(), Value::Null);
            }),
            body(|m| {
                m.insert("records".into(), json!([1]));
            }),
            body(|m| {
                m.insert("records".into(), json!({}));
            }),
            body(|m| {
                m.insert("sync_field".into(), json!("EMAIL"));
            }),
            body(|m| {
                m.insert("test_run".into(), json!(0));
            }),
            body(|m| {
                m.remove("insert_only");
            }),
            body(|m| {
                m.insert("error".into(), json!(1));
            }),
            br#"{"portion":"a","portion":"b"}"#.to_vec(),
            br#"["1.0", "n"]"#.to_vec(),
            b"{} x".to_vec(),
            b"not json".to_vec(),
        ];
        // Records before sync_field, escaped record keys, serde_json's own
        // names, numbers out of range, broken strings.
        let head = r#"{"connector_name":"n","portion":"p","data_type":"users","sync_field":["E"],"insert_only":false,"update_only":false,"test_run":false,"records":"#;
        for records in [
            r#"[{"E\u0041":1}]"#,
            r#"[{"$serde_json::private::RawValue":"1"}]"#,
            r#"[{"E":"a","x":{"$x":1}}]"#,
            r#"[{"E":"a","x":1e400}]"#,
            r#"[{"E":"a","x":"\ud800"}]"#,
            "[{\"E\":\"a\",\"x\":\"tab\there\"}]",
            r#"[{"E":"a","x":01}]"#,
        ] {
            cases.push(format!("{head}{records}}}").into_bytes());
        }
        for case in cases {
            assert!(parse(&case).is_none(), "{}", String::from_utf8_lossy(&case));
        }
    }

    #[test]
    fn records_may_come_before_sync_field() {
        // As a client serializing a sorted map sends them.
        let text = br#"{"connector_name":"n","data_type":"users","insert_only":false,"portion":"p","records":[{"E":"a","F":1},{},{"F":2},{"E":null}],"sync_field":["E","F"],"test_run":false,"update_only":false}"#;
        let wire = parse(text).expect("fast path");
        let sync: Vec<_> = wire.records.iter().map(|r| r.sync.clone()).collect();
        assert_eq!(
            sync,
            [
                vec![Some(json!("a")), Some(json!(1))],
                vec![None, None],
                vec![None, Some(json!(2))],
                vec![Some(Value::Null), None],
            ]
        );
    }

    #[test]
    fn records_behave_like_maps() {
        let mut r = Record::from_map(json!({"a": 1, "b": "x"}).as_object().unwrap().clone());
        assert!(r.contains_key("a") && !r.contains_key("c"));
        r.insert(Arc::from("a"), json!(2));
        r.insert(Arc::from("c"), json!(null));
        assert_eq!(r.remove("b"), Some(json!("x")));
        assert_eq!(r.remove("b"), None);
        assert_eq!(Value::Object(r.to_map()), json!({"a": 2, "c": null}));
        let text = r.to_json();
        let back = parse_record(&text, &mut Names::new()).unwrap();
        assert_eq!(back.to_map(), r.to_map());
        // The last of a repeated name wins; escaped names are decoded.
        let r = parse_record(br#"{"a":1,"\u0062":2,"a":3}"#, &mut Names::new()).unwrap();
        assert_eq!(Value::Object(r.to_map()), json!({"a": 3, "b": 2}));
        assert!(parse_record(b"[1]", &mut Names::new()).is_none());
        assert!(parse_record(b"{} 1", &mut Names::new()).is_none());
    }

    #[test]
    fn hasher_spreads_similar_keys() {
        use std::collections::HashSet;
        use std::hash::BuildHasher;
        let build = FastBuild::default();
        let mut buckets = HashSet::new();
        for i in 0..4096 {
            let h = build.hash_one(format!("james.smith.{i}@contoso.com"));
            buckets.insert(h & 4095);
        }
        // A uniform hash fills about 63% of the buckets.
        assert!(buckets.len() > 2400, "{}", buckets.len());
    }
}

//! A mapping spec compiled against a field catalog: names resolved to
//! positions, templates and date patterns parsed, lookup tables hashed, all
//! once per `map-records` call. Mapping a record then does no name lookups and no
//! parsing.

use super::filter::CompiledFilter;
use super::transform::Step;
use super::{field_index, text_form};
use crate::types::{
    ConnectorError, MapFailure, MapOutcome, MappedRecord, MappingRule, MappingSpec, RuleSource,
    SourceRecord, Value,
};

static NULL: Value = Value::Null;

/// A [`MappingSpec`] ready to map records of one catalog.
#[derive(Debug)]
pub struct CompiledSpec<'a> {
    names: &'a [&'a str],
    rules: Vec<CompiledRule<'a>>,
    filters: Vec<CompiledFilter<'a>>,
}

#[derive(Debug)]
struct CompiledRule<'a> {
    target: &'a str,
    source: Source<'a>,
    steps: Vec<Step<'a>>,
    required: bool,
    sync_key: bool,
    /// For failure reasons: `email`, `constant`, `first-of [a, b]`, ...
    source_description: String,
}

#[derive(Debug)]
enum Source<'a> {
    Field(usize),
    Constant(&'a Value),
    FirstOf(Vec<usize>),
    Template(Vec<Piece>),
}

#[derive(Debug)]
enum Piece {
    Literal(String),
    Field(usize),
}

impl<'a> CompiledSpec<'a> {
    /// Compiles `spec` against the catalog `names` (the field names, in
    /// record position order). An invalid spec is `invalid-input` naming
    /// the rule or filter at fault.
    pub fn compile(spec: &'a MappingSpec, names: &'a [&'a str]) -> Result<Self, ConnectorError> {
        Self::try_compile(spec, names).map_err(ConnectorError::InvalidInput)
    }

    fn try_compile(spec: &'a MappingSpec, names: &'a [&'a str]) -> Result<Self, String> {
        let mut rules: Vec<CompiledRule<'a>> = Vec::with_capacity(spec.rules.len());
        for (i, rule) in spec.rules.iter().enumerate() {
            let number = i + 1;
            if rule.target.trim().is_empty() {
                return Err(format!("rule {number} has an empty target"));
            }
            if let Some(first) = rules.iter().position(|r| r.target == rule.target) {
                return Err(format!(
                    "duplicate target `{}` (rules {} and {number})",
                    rule.target,
                    first + 1
                ));
            }
            rules.push(compile_rule(rule, names)?);
        }
        for key in &spec.sync_key {
            match rules.iter_mut().find(|r| r.target == key) {
                Some(rule) => rule.sync_key = true,
                None => return Err(format!("sync-key field `{key}` has no rule")),
            }
        }
        let filters = spec
            .filters
            .iter()
            .enumerate()
            .map(|(i, f)| CompiledFilter::compile(f, i + 1, names))
            .collect::<Result<_, _>>()?;
        Ok(CompiledSpec {
            names,
            rules,
            filters,
        })
    }

    /// Maps a batch, one outcome per record, in order.
    pub fn map_records(&self, records: Vec<SourceRecord>) -> Vec<MapOutcome> {
        records.into_iter().map(|r| self.map_record(r)).collect()
    }

    /// Maps one record: filters first (on source values), then every rule
    /// in order. A failed record carries all its reasons, `; `-separated,
    /// and its raw values by field name.
    pub fn map_record(&self, record: SourceRecord) -> MapOutcome {
        let values = record.values.as_slice();
        if values.len() != self.names.len() {
            let reason = format!(
                "record has {} values but the catalog has {} fields",
                values.len(),
                self.names.len()
            );
            return self.fail(record, reason);
        }
        for filter in &self.filters {
            if let Some(reason) = filter.rejects(values) {
                return MapOutcome::Filtered(reason.to_owned());
            }
        }
        let mut outs = Vec::with_capacity(self.rules.len());
        let mut failures: Vec<String> = Vec::new();
        for rule in &self.rules {
            match rule.evaluate(values) {
                Ok(out) => {
                    if out.get(values).is_empty() && (rule.required || rule.sync_key) {
                        let what = if rule.required {
                            "required"
                        } else {
                            "sync-key"
                        };
                        failures.push(format!(
                            "{what} field {} is empty (source: {})",
                            rule.target, rule.source_description
                        ));
                    } else if failures.is_empty() {
                        outs.push(out);
                    }
                }
                Err(reason) => failures.push(format!(
                    "{}: {reason} (source: {})",
                    rule.target, rule.source_description
                )),
            }
        }
        if failures.is_empty() {
            MapOutcome::Mapped(MappedRecord {
                source_id: record.id,
                values: hand_out(outs, record.values),
            })
        } else {
            self.fail(record, failures.join("; "))
        }
    }

    fn fail(&self, record: SourceRecord, reason: String) -> MapOutcome {
        let raw = self
            .names
            .iter()
            .map(|name| (*name).to_owned())
            .zip(record.values)
            .collect();
        MapOutcome::Failed(MapFailure {
            source_id: record.id,
            reason,
            raw,
        })
    }
}

fn compile_rule<'a>(rule: &'a MappingRule, names: &[&str]) -> Result<CompiledRule<'a>, String> {
    let target = rule.target.as_str();
    let unknown = |field: &str| format!("unknown field `{field}` in rule for `{target}`");
    let resolve = |field: &str| field_index(names, field).ok_or_else(|| unknown(field));
    let (source, source_description) = match &rule.source {
        RuleSource::Field(field) => (Source::Field(resolve(field)?), field.clone()),
        RuleSource::Constant(value) => (Source::Constant(value), "constant".to_owned()),
        RuleSource::FirstOf(fields) => {
            if fields.is_empty() {
                return Err(format!("first-of in rule for `{target}` lists no fields"));
            }
            let indexes = fields
                .iter()
                .map(|f| resolve(f))
                .collect::<Result<_, _>>()?;
            (
                Source::FirstOf(indexes),
                format!("first-of [{}]", fields.join(", ")),
            )
        }
        RuleSource::Template(template) => (
            Source::Template(
                parse_template(template, names)
                    .map_err(|e| format!("{e} in template of rule for `{target}`"))?,
            ),
            format!("template {template:?}"),
        ),
    };
    let steps = rule
        .transforms
        .iter()
        .map(|t| Step::compile(t).map_err(|e| format!("{e} in rule for `{target}`")))
        .collect::<Result<_, _>>()?;
    Ok(CompiledRule {
        target,
        source,
        steps,
        required: rule.required,
        sync_key: false,
        source_description,
    })
}

/// `{field}` placeholders; `{{` and `}}` are literal braces.
fn parse_template(template: &str, names: &[&str]) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') | None => return Err("unclosed `{`".to_owned()),
                        Some(c) => name.push(c),
                    }
                }
                let name = name.trim();
                if name.is_empty() {
                    return Err("empty placeholder `{}`".to_owned());
                }
                let index =
                    field_index(names, name).ok_or_else(|| format!("unknown field `{name}`"))?;
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Field(index));
            }
            '}' => return Err("unmatched `}` (write `}}` for a literal brace)".to_owned()),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// A rule's value before it is handed out: still the record's own field
/// (so a field several rules use unchanged is copied only when needed), or
/// a value of its own.
#[derive(Debug)]
enum Out {
    Field(usize),
    Owned(Value),
}

impl Out {
    fn get<'v>(&'v self, values: &'v [Value]) -> &'v Value {
        match self {
            Out::Field(i) => values.get(*i).unwrap_or(&NULL),
            Out::Owned(v) => v,
        }
    }
}

/// The mapped values, in rule order: each field's last use takes it out of
/// the record (no copy), earlier uses copy it first.
fn hand_out(outs: Vec<Out>, mut values: Vec<Value>) -> Vec<Value> {
    // Where each field is used last.
    let mut last = vec![usize::MAX; values.len()];
    for (k, out) in outs.iter().enumerate() {
        if let Out::Field(i) = out {
            last[*i] = k;
        }
    }
    outs.into_iter()
        .enumerate()
        .map(|(k, out)| match out {
            Out::Owned(v) => v,
            Out::Field(i) if last[i] == k => std::mem::replace(&mut values[i], Value::Null),
            Out::Field(i) => values[i].clone(),
        })
        .collect()
}

impl CompiledRule<'_> {
    fn evaluate(&self, values: &[Value]) -> Result<Out, String> {
        let field = |i: usize| match values.get(i) {
            Some(_) => Out::Field(i),
            None => Out::Owned(Value::Null),
        };
        let mut out = match &self.source {
            Source::Field(i) => field(*i),
            Source::Constant(value) => Out::Owned((*value).clone()),
            Source::FirstOf(indexes) => indexes
                .iter()
                .copied()
                .find(|&i| values.get(i).is_some_and(|v| !v.is_empty()))
                .map_or(Out::Owned(Value::Null), field),
            Source::Template(pieces) => Out::Owned(render(pieces, values)),
        };
        for step in &self.steps {
            out = match out {
                Out::Field(i) if step.keeps(&values[i]) => Out::Field(i),
                Out::Field(i) => Out::Owned(step.apply(values[i].clone())?),
                Out::Owned(v) => Out::Owned(step.apply(v)?),
            };
        }
        Ok(out)
    }
}

/// A template's text; null when it has placeholders and all are empty.
fn render(pieces: &[Piece], values: &[Value]) -> Value {
    // Sized once: growing the text piece by piece reallocates it several
    // times per record (a guest allocation each, on the sync's hot path).
    let size = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Literal(s) => s.len(),
            Piece::Field(i) => match values.get(*i) {
                Some(Value::Text(s) | Value::Timestamp(s)) => s.len(),
                Some(Value::TextList(l)) => l.iter().map(|s| s.len() + 2).sum(),
                Some(_) => 20,
                None => 0,
            },
        })
        .sum();
    let mut out = String::with_capacity(size);
    let mut placeholders = 0;
    let mut filled = 0;
    for piece in pieces {
        match piece {
            Piece::Literal(s) => out.push_str(s),
            Piece::Field(i) => {
                placeholders += 1;
                let value = values.get(*i).unwrap_or(&NULL);
                if !value.is_empty() {
                    filled += 1;
                    out.push_str(&text_form(value));
                }
            }
        }
    }
    if placeholders > 0 && filled == 0 {
        Value::Null
    } else {
        Value::Text(out)
    }
}

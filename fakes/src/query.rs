//! The query string of the fake Oomnitza's list endpoints
//! (`GET /api/v3/users`, `GET /api/v3/saas_users`): `filter`, `limit`,
//! `skip`, `sortby` and `fields`, decoded strictly (an unknown or repeated
//! parameter, a bad number or a malformed filter is an error naming it), and
//! applied to any list of records through a field getter.
//!
//! See the [`crate::oomnitza`] module docs for the filter syntax.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::form;

/// `limit` when none is given.
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` accepted.
pub(crate) const MAX_LIMIT: usize = 1000;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Op::Eq => ordering == Ordering::Equal,
            Op::Ne => ordering != Ordering::Equal,
            Op::Lt => ordering == Ordering::Less,
            Op::Le => ordering != Ordering::Greater,
            Op::Gt => ordering == Ordering::Greater,
            Op::Ge => ordering != Ordering::Less,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Cond {
    Compare {
        field: String,
        op: Op,
        value: String,
    },
    In {
        field: String,
        values: Vec<String>,
    },
}

/// A parsed `filter`: conditions that must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter(Vec<Cond>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("'{w}'"),
            Token::Quoted(q) => format!("the value '{q}'"),
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::Comma => "','".into(),
        }
    }
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '\'' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(format!(
                                "unterminated quoted value starting at character {}",
                                start + 1
                            ));
                        }
                        // '' inside a quoted value stands for one quote.
                        Some((_, '\'')) if chars.peek().is_some_and(|&(_, n)| n == '\'') => {
                            chars.next();
                            value.push('\'');
                        }
                        Some((_, '\'')) => break,
                        Some((_, ch)) => value.push(ch),
                    }
                }
                tokens.push(Token::Quoted(value));
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' => {
                let mut word = String::new();
                while let Some(&(_, ch)) = chars.peek() {
                    if ch.is_alphanumeric() || ch == '_' || ch == '.' {
                        word.push(ch);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(word));
            }
            other => {
                return Err(format!(
                    "unexpected character '{other}' at character {}",
                    start + 1
                ));
            }
        }
    }
    Ok(tokens)
}

impl Op {
    fn from_name(name: &str) -> Option<Op> {
        Some(match name {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            _ => return None,
        })
    }
}

type Tokens = std::iter::Peekable<std::vec::IntoIter<Token>>;

impl Filter {
    /// Parses `<field> <op> '<value>'` and `<field> in ('a', 'b')`
    /// conditions joined by `and`.
    pub(crate) fn parse(s: &str) -> Result<Filter, String> {
        let tokens = tokenize(s)?;
        if tokens.is_empty() {
            return Err("empty filter".into());
        }
        let mut it = tokens.into_iter().peekable();
        let mut conds = Vec::new();
        loop {
            let field = match it.next() {
                Some(Token::Word(w)) => w,
                Some(t) => return Err(format!("expected a field name, found {}", t.describe())),
                None => return Err("expected a condition after 'and'".into()),
            };
            let op = match it.next() {
                Some(Token::Word(w)) => w.to_ascii_lowercase(),
                Some(t) => {
                    return Err(format!(
                        "expected an operator after '{field}', found {}",
                        t.describe()
                    ));
                }
                None => return Err(format!("expected an operator after '{field}'")),
            };
            let cond = if op == "in" {
                Cond::In {
                    values: parse_list(&mut it, &field)?,
                    field,
                }
            } else {
                let Some(compare) = Op::from_name(&op) else {
                    return Err(format!(
                        "unknown operator '{op}' after '{field}' (expected eq, ne, lt, le, gt, ge or in)"
                    ));
                };
                let value = match it.next() {
                    Some(Token::Quoted(v)) => v,
                    Some(t) => {
                        return Err(format!(
                            "expected a quoted value after '{field} {op}', found {}",
                            t.describe()
                        ));
                    }
                    None => return Err(format!("expected a quoted value after '{field} {op}'")),
                };
                Cond::Compare {
                    field,
                    op: compare,
                    value,
                }
            };
            conds.push(cond);
            if !and_follows(&mut it, conds.len())? {
                return Ok(Filter(conds));
            }
        }
    }

    /// Whether a record passes; `get(field)` is its value as a string (empty
    /// when the field is missing).
    pub(crate) fn matches<'a>(&self, get: impl Fn(&str) -> Cow<'a, str>) -> bool {
        self.0.iter().all(|cond| match cond {
            Cond::Compare { field, op, value } => op.holds(get(field).as_ref().cmp(value.as_str())),
            Cond::In { field, values } => {
                let got = get(field);
                values.iter().any(|v| v == got.as_ref())
            }
        })
    }
}

/// After condition number `n`: `false` at the end, `true` after an `and`.
fn and_follows(it: &mut Tokens, n: usize) -> Result<bool, String> {
    match it.next() {
        None => Ok(false),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("and") => Ok(true),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("or") => Err(format!(
            "'or' is not supported (condition {n} may only be followed by 'and')"
        )),
        Some(t) => Err(format!(
            "expected 'and' after condition {n}, found {}",
            t.describe()
        )),
    }
}

/// `('a', 'b', ...)` after `<field> in`.
fn parse_list(it: &mut Tokens, field: &str) -> Result<Vec<String>, String> {
    match it.next() {
        Some(Token::Open) => {}
        Some(t) => {
            return Err(format!(
                "expected '(' after '{field} in', found {}",
                t.describe()
            ));
        }
        None => return Err(format!("expected '(' after '{field} in'")),
    }
    let mut values = Vec::new();
    loop {
        match it.next() {
            Some(Token::Quoted(v)) => values.push(v),
            Some(t) => {
                return Err(format!(
                    "expected a quoted value in the list of '{field} in', found {}",
                    t.describe()
                ));
            }
            None => return Err(format!("unclosed list after '{field} in'")),
        }
        match it.next() {
            Some(Token::Comma) => {}
            Some(Token::Close) => return Ok(values),
            Some(t) => {
                return Err(format!(
                    "expected ',' or ')' in the list of '{field} in', found {}",
                    t.describe()
                ));
            }
            None => return Err(format!("unclosed list after '{field} in'")),
        }
    }
}

/// A decoded list query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListQuery {
    pub filter: Option<Filter>,
    pub limit: usize,
    pub skip: usize,
    /// The field to sort by, and whether descending.
    pub sortby: Option<(String, bool)>,
    /// Only these fields in each record.
    pub fields: Option<Vec<String>>,
}

impl ListQuery {
    /// Decodes the URL query (without `?`; `None`: no query).
    pub(crate) fn parse(query: Option<&str>) -> Result<ListQuery, String> {
        let mut q = ListQuery {
            filter: None,
            limit: DEFAULT_LIMIT,
            skip: 0,
            sortby: None,
            fields: None,
        };
        let pairs = form::parse(query.unwrap_or_default().as_bytes())
            .map_err(|e| format!("query string: {e}"))?;
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in pairs {
            if seen.contains(&name) {
                return Err(format!("query parameter '{name}' is given more than once"));
            }
            seen.push(name.clone());
            match name.as_str() {
                "filter" if value.trim().is_empty() => {}
                "filter" => {
                    q.filter = Some(Filter::parse(&value).map_err(|e| format!("filter: {e}"))?);
                }
                "limit" => {
                    q.limit = match value.parse::<usize>() {
                        Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                        _ => {
                            return Err(format!(
                                "limit: must be an integer from 1 to {MAX_LIMIT}, got '{value}'"
                            ));
                        }
                    };
                }
                "skip" => {
                    q.skip = value.parse::<usize>().map_err(|_| {
                        format!("skip: must be a non-negative integer, got '{value}'")
                    })?;
                }
                "sortby" => {
                    let (field, descending) = match value.strip_prefix('-') {
                        Some(f) => (f, true),
                        None => (value.as_str(), false),
                    };
                    if !is_field_name(field) {
                        return Err(format!(
                            "sortby: expected a field name, optionally after '-', got '{value}'"
                        ));
                    }
                    q.sortby = Some((field.to_string(), descending));
                }
                "fields" => {
                    let fields: Vec<String> =
                        value.split(',').map(|f| f.trim().to_string()).collect();
                    if let Some(bad) = fields.iter().find(|f| !is_field_name(f)) {
                        return Err(format!(
                            "fields: expected comma-separated field names, got '{bad}' in '{value}'"
                        ));
                    }
                    q.fields = Some(fields);
                }
                other => {
                    return Err(format!(
                        "unknown query parameter '{other}' (expected filter, limit, skip, sortby or fields)"
                    ));
                }
            }
        }
        Ok(q)
    }

    /// The indices (out of `0..len`) to return, in order, and how many
    /// matched the filter (the `x-total-count`). `get(i, field)` is record
    /// `i`'s value of `field` as a string, empty when it has none.
    pub(crate) fn select<'a>(
        &self,
        len: usize,
        get: impl Fn(usize, &str) -> Cow<'a, str>,
    ) -> (Vec<usize>, usize) {
        let mut matched: Vec<usize> = match &self.filter {
            Some(filter) => (0..len)
                .filter(|&i| filter.matches(|f| get(i, f)))
                .collect(),
            None => (0..len).collect(),
        };
        let total = matched.len();
        if let Some((field, descending)) = &self.sortby {
            // Stable: ties keep insertion order either way.
            matched.sort_by(|&a, &b| {
                let order = get(a, field).cmp(&get(b, field));
                if *descending { order.reverse() } else { order }
            });
        }
        let page = matched
            .into_iter()
            .skip(self.skip)
            .take(self.limit)
            .collect();
        (page, total)
    }
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn record(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn passes(filter: &str, rec: &HashMap<String, String>) -> bool {
        Filter::parse(filter)
            .unwrap()
            .matches(|f| Cow::Owned(rec.get(f).cloned().unwrap_or_default()))
    }

    #[test]
    fn every_operator_compares_as_strings() {
        let r = record(&[
            ("email", "b@x.com"),
            ("joined", "2024-03-01T00:00:00Z"),
            ("n", "25"),
        ]);
        assert!(passes("email eq 'b@x.com'", &r));
        assert!(!passes("email eq 'B@x.com'", &r));
        assert!(passes("email ne 'a@x.com'", &r));
        assert!(passes("email gt 'a'", &r) && !passes("email lt 'a'", &r));
        assert!(passes("email ge 'b@x.com'", &r) && passes("email le 'b@x.com'", &r));
        assert!(passes("joined lt '2024-12-31'", &r));
        assert!(passes("joined ge '2024-03-01T00:00:00Z'", &r));
        // Strings, not numbers.
        assert!(passes("n lt '3'", &r));
        // A missing field is the empty string.
        assert!(passes("missing eq ''", &r) && passes("missing lt 'a'", &r));
        assert!(passes("email in ('a@x.com', 'b@x.com')", &r));
        assert!(!passes("email in ('a@x.com')", &r));
        assert!(passes(
            "email eq 'b@x.com' AND n eq '25' and joined gt '2'",
            &r
        ));
        assert!(!passes("email eq 'b@x.com' and n eq '26'", &r));
        assert!(passes("email EQ 'b@x.com'", &r));
        let q = record(&[("name", "O'Brien")]);
        assert!(passes("name eq 'O''Brien'", &q));
        assert!(passes("name in ('x','O''Brien')", &q));
    }

    #[test]
    fn malformed_filters_name_the_problem() {
        for (bad, needle) in [
            ("", "empty"),
            ("email", "expected an operator after 'email'"),
            ("email like 'x'", "unknown operator 'like'"),
            ("email eq x", "expected a quoted value after 'email eq'"),
            ("email eq", "expected a quoted value after 'email eq'"),
            ("email eq 'x", "unterminated"),
            ("email eq 'x' or n eq 'y'", "'or' is not supported"),
            ("email eq 'x' n eq 'y'", "expected 'and' after condition 1"),
            ("email eq 'x' and", "expected a condition after 'and'"),
            ("email in 'x'", "expected '(' after 'email in'"),
            ("email in ('x' 'y')", "expected ',' or ')'"),
            ("email in ('x',", "unclosed list"),
            ("email in (x)", "expected a quoted value in the list"),
            ("email = 'x'", "unexpected character '='"),
            ("'x' eq email", "expected a field name"),
        ] {
            let err = Filter::parse(bad).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn query_parameters() {
        let q = ListQuery::parse(None).unwrap();
        assert_eq!(
            (q.limit, q.skip, q.filter, q.sortby, q.fields),
            (100, 0, None, None, None)
        );
        let q = ListQuery::parse(Some(
            "filter=email%20eq%20%27a%40b.c%27&limit=1000&skip=5&sortby=-email&fields=email,+user_id",
        ))
        .unwrap();
        assert_eq!((q.limit, q.skip), (1000, 5));
        assert!(q.filter.is_some());
        assert_eq!(q.sortby, Some(("email".into(), true)));
        assert_eq!(q.fields, Some(vec!["email".into(), "user_id".into()]));
        assert!(ListQuery::parse(Some("filter=")).unwrap().filter.is_none());
        for (bad, needle) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=x", "limit"),
            ("skip=-1", "skip"),
            ("sortby=", "sortby"),
            ("sortby=a+b", "sortby"),
            ("fields=a,,b", "fields"),
            ("page=2", "unknown query parameter 'page'"),
            ("limit=1&limit=2", "more than once"),
            ("filter=email%20eq", "filter: expected a quoted value"),
            ("filter=%zz", "query string"),
        ] {
            let err = ListQuery::parse(Some(bad)).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn select_filters_sorts_and_pages() {
        let items: Vec<HashMap<String, String>> = ["c", "a", "b", "a", "d"]
            .iter()
            .enumerate()
            .map(|(i, v)| record(&[("v", v), ("i", &i.to_string())]))
            .collect();
        let get = |i: usize, f: &str| -> Cow<'static, str> {
            Cow::Owned(items[i].get(f).cloned().unwrap_or_default())
        };
        let n = items.len();
        let q = ListQuery::parse(Some("sortby=v&limit=3&skip=1")).unwrap();
        assert_eq!(q.select(n, get), (vec![3, 2, 0], 5));
        let q = ListQuery::parse(Some("sortby=-v")).unwrap();
        assert_eq!(q.select(n, get), (vec![4, 0, 2, 1, 3], 5));
        let q = ListQuery::parse(Some("filter=v%20ne%20%27a%27&limit=1")).unwrap();
        assert_eq!(q.select(n, get), (vec![0], 3));
        let q = ListQuery::parse(Some("skip=10")).unwrap();
        assert_eq!(q.select(n, get), (vec![], 5));
    }
}

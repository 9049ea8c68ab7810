//! Listing members (`list_v2`, `list/continue_v2`): the arguments, the
//! opaque authenticated cursors, and rendering pages into the cache (see
//! [`Served`](super::server::Served)).

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;

use crate::json::{b64_decode, b64_encode, push_str};
use crate::server::{kind, read, write};
use crate::team::{Team, WireStyle};

use super::server::{Page, Position, Shared};

const CURSOR_VERSION: u8 = 1;
const CURSOR_LEN: usize = 30;

impl Shared {
    /// `list_v2` arguments: `{limit?, include_removed?}`.
    pub(super) fn parse_list(&self, body: &[u8]) -> Result<Result<Position, ()>, String> {
        let map = parse_object(body)?;
        let mut position = Position {
            start: 0,
            limit: self.max_limit,
            include_removed: false,
        };
        let max = self.max_limit;
        for (key, value) in &map {
            match key.as_str() {
                "limit" => {
                    position.limit = match value.as_u64() {
                        Some(n) if (1..=u64::from(max)).contains(&n) => n as u32,
                        Some(n) => {
                            return Err(format!(
                                "request body: limit: {n} is not within range [1, {max}]"
                            ));
                        }
                        None if value.is_number() => {
                            return Err(format!(
                                "request body: limit: {value} is not within range [1, {max}]"
                            ));
                        }
                        None => {
                            return Err(format!(
                                "request body: limit: expected integer, got {}",
                                kind(value)
                            ));
                        }
                    }
                }
                "include_removed" => {
                    position.include_removed = value.as_bool().ok_or_else(|| {
                        format!(
                            "request body: include_removed: expected boolean, got {}",
                            kind(value)
                        )
                    })?;
                }
                other => return Err(format!("request body: unknown field '{other}'")),
            }
        }
        Ok(Ok(position))
    }

    /// `list/continue_v2` arguments: `{cursor}`; `Ok(Err(()))` for a cursor
    /// this server did not issue.
    pub(super) fn parse_continue(&self, body: &[u8]) -> Result<Result<Position, ()>, String> {
        let map = parse_object(body)?;
        let mut cursor = None;
        for (key, value) in &map {
            match key.as_str() {
                "cursor" => {
                    cursor = Some(value.as_str().ok_or_else(|| {
                        format!("request body: cursor: expected string, got {}", kind(value))
                    })?);
                }
                other => return Err(format!("request body: unknown field '{other}'")),
            }
        }
        let cursor = cursor.ok_or("request body: missing required field 'cursor'")?;
        Ok(self.decode_cursor(cursor).ok_or(()))
    }

    fn encode_cursor(&self, position: Position) -> String {
        let mut bytes = [0u8; CURSOR_LEN];
        bytes[0] = CURSOR_VERSION;
        bytes[1] = u8::from(position.include_removed);
        bytes[2..6].copy_from_slice(&position.limit.to_le_bytes());
        bytes[6..14].copy_from_slice(&(position.start as u64).to_le_bytes());
        bytes[14..22].copy_from_slice(&self.nonce.to_le_bytes());
        let mac = self.cursor_key.hash_one(&bytes[..22]);
        bytes[22..30].copy_from_slice(&mac.to_le_bytes());
        b64_encode(&bytes)
    }

    fn decode_cursor(&self, cursor: &str) -> Option<Position> {
        let bytes: [u8; CURSOR_LEN] = b64_decode(cursor)?.try_into().ok()?;
        let mac = u64::from_le_bytes(bytes[22..30].try_into().ok()?);
        if mac != self.cursor_key.hash_one(&bytes[..22])
            || bytes[0] != CURSOR_VERSION
            || bytes[1] > 1
            || u64::from_le_bytes(bytes[14..22].try_into().ok()?) != self.nonce
        {
            return None;
        }
        let limit = u32::from_le_bytes(bytes[2..6].try_into().ok()?);
        let start = usize::try_from(u64::from_le_bytes(bytes[6..14].try_into().ok()?)).ok()?;
        if start > self.team.read().len() {
            return None;
        }
        Some(Position {
            start,
            limit,
            include_removed: bytes[1] == 1,
        })
    }

    /// The `MembersListV2Result` page at `position`: the stored one, or
    /// rendered (and stored, when caching is on).
    pub(super) fn page(&self, position: Position) -> Page {
        let team = self.team.read();
        let Some(pages) = &self.team.pages else {
            return self.render(&team, position);
        };
        if let Some(page) = read(pages).get(&position) {
            return page.clone();
        }
        let page = self.render(&team, position);
        write(pages).insert(position, page.clone());
        page
    }

    /// Writes one `MembersListV2Result` page of `team` (as served now).
    fn render(&self, team: &Team, position: Position) -> Page {
        let (body, members) =
            render_page(team, &self.style, position, |next| self.encode_cursor(next));
        Page {
            body: Bytes::from(body),
            members,
        }
    }

    /// See [`FakeDropbox::pregenerate`](super::FakeDropbox::pregenerate).
    pub(super) fn pregenerate(&self, limit: u32, include_removed: bool) -> usize {
        let Some(pages) = &self.team.pages else {
            return 0;
        };
        let limit = limit.clamp(1, self.max_limit);
        // The team is read-locked throughout: no change can slip between
        // rendering the pages and storing them.
        let team = self.team.read();
        let mut positions = Vec::new();
        let mut start = 0;
        loop {
            let position = Position {
                start,
                limit,
                include_removed,
            };
            start = next_start(&team, position);
            if !read(pages).contains_key(&position) {
                positions.push(position);
            }
            if start >= team.len() {
                break;
            }
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, positions.len().max(1));
        let next = AtomicUsize::new(0);
        let team: &Team = &team;
        let rendered: Vec<(Position, Page)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&position) = positions.get(k) else {
                                break;
                            };
                            done.push((position, self.render(team, position)));
                        }
                        done
                    })
                })
                .collect();
            workers
                .into_iter()
                // A render that panicked: those pages render on demand.
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        let count = rendered.len();
        write(pages).extend(rendered);
        count
    }
}

/// Where the page after the one at `position` starts (`team.len()` when it
/// is the last): past `limit` listed members and any unlisted ones after
/// them, as [`render_page`] pages.
fn next_start(team: &Team, position: Position) -> usize {
    let len = team.len();
    let limit = position.limit as usize;
    let listed = |i: usize| position.include_removed || !team.status(i).is_removed();
    let mut i = position.start;
    let mut count = 0;
    while i < len && count < limit {
        count += usize::from(listed(i));
        i += 1;
    }
    while i < len && !listed(i) {
        i += 1;
    }
    i
}

/// The page starting at `position`, its cursor made by `cursor`.
pub(super) fn render_page(
    team: &Team,
    style: &WireStyle,
    position: Position,
    cursor: impl FnOnce(Position) -> String,
) -> (String, usize) {
    let len = team.len();
    let limit = position.limit as usize;
    let listed = |i: usize| position.include_removed || !team.status(i).is_removed();
    let mut out = String::with_capacity(limit.min(len) * 1100 + 256);
    out.push_str("{\"members\":[");
    let mut i = position.start;
    let mut count = 0;
    while i < len && count < limit {
        if listed(i) {
            if count > 0 {
                out.push(',');
            }
            team.member(i).write_json(style, &mut out);
            count += 1;
        }
        i += 1;
    }
    while i < len && !listed(i) {
        i += 1;
    }
    out.push_str("],\"cursor\":");
    push_str(
        &mut out,
        &cursor(Position {
            start: i,
            ..position
        }),
    );
    out.push_str(if i < len {
        ",\"has_more\":true"
    } else {
        ",\"has_more\":false"
    });
    if style.unknown_fields {
        out.push_str(",\"future_field\":{\"x\":1}");
    }
    out.push('}');
    (out, count)
}

fn parse_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| "request body: could not decode input as JSON".to_string())?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        other => Err(format!(
            "request body: expected object, got {}",
            kind(&other)
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::dropbox::faults::{cut_in_half, pad_page};
    use crate::dropbox::{DropboxConfig, DropboxFault, FakeDropbox};

    const TOKEN: &str = "sl.cache-test";

    /// POSTs `body` to `path`; the status and the body's bytes.
    async fn post(server: &FakeDropbox, path: &str, body: serde_json::Value) -> (u16, Bytes) {
        let resp = reqwest::Client::new()
            .post(format!("{}{path}", server.url()))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.expect("body"))
    }

    /// Lists every page over HTTP; each page's position (from the cursor
    /// that led to it) and body.
    async fn list(server: &FakeDropbox, limit: u32, removed: bool) -> Vec<(Position, Bytes)> {
        let shared = &server.shared;
        let mut position = Position {
            start: 0,
            limit,
            include_removed: removed,
        };
        let (status, mut body) = post(
            server,
            "/2/team/members/list_v2",
            serde_json::json!({"limit": limit, "include_removed": removed}),
        )
        .await;
        assert_eq!(status, 200);
        let mut pages = Vec::new();
        loop {
            let page: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            pages.push((position, body));
            if page["has_more"] == false {
                return pages;
            }
            let cursor = page["cursor"].as_str().expect("cursor").to_string();
            position = shared.decode_cursor(&cursor).expect("our cursor");
            let (status, next) = post(
                server,
                "/2/team/members/list/continue_v2",
                serde_json::json!({ "cursor": cursor }),
            )
            .await;
            assert_eq!(status, 200);
            body = next;
        }
    }

    /// The page at `position` rendered now, bypassing the cache.
    fn uncached(server: &FakeDropbox, position: Position) -> String {
        let shared = &server.shared;
        let team = shared.team.read();
        render_page(&team, &shared.style, position, |next| {
            shared.encode_cursor(next)
        })
        .0
    }

    #[tokio::test]
    async fn served_pages_are_the_uncached_rendering() {
        let styles = [
            WireStyle::default(),
            WireStyle {
                bare_union_tags: true,
                unknown_fields: true,
            },
        ];
        for style in styles {
            let mut config = DropboxConfig::new(Team::generate(2_345, 9), TOKEN);
            config.style = style;
            let server = FakeDropbox::start(config).unwrap();
            for (limit, removed) in [(1000, true), (1000, false), (7, false), (333, true)] {
                // Twice: rendered (and stored) on the first pass, served
                // from memory on the second; both byte for byte the same.
                let first = list(&server, limit, removed).await;
                let stored = server.cached_pages().0;
                let second = list(&server, limit, removed).await;
                assert_eq!(server.cached_pages().0, stored, "no page rendered again");
                assert_eq!(first, second);
                for (position, body) in &first {
                    assert_eq!(body, uncached(&server, *position).as_bytes());
                }
            }
        }
    }

    #[tokio::test]
    async fn pregenerated_pages_are_the_ones_a_client_asks_for() {
        let server =
            FakeDropbox::start(DropboxConfig::new(Team::generate(3_001, 4), TOKEN)).expect("start");
        // Some members removed, so pages without them skip over them.
        for (limit, removed) in [(1000, true), (1000, false), (9, false), (1, true)] {
            let before = server.cached_pages().0;
            let rendered = server.pregenerate(limit, removed);
            assert!(rendered > 0);
            assert_eq!(server.cached_pages().0, before + rendered);
            assert_eq!(server.pregenerate(limit, removed), 0, "all there already");
            let pages = list(&server, limit, removed).await;
            assert_eq!(pages.len(), rendered);
            assert_eq!(
                server.cached_pages().0,
                before + rendered,
                "all served from memory"
            );
            for (position, body) in &pages {
                assert_eq!(body, uncached(&server, *position).as_bytes());
            }
        }
        // Clamped to max_limit, like a request's limit.
        let (n, _) = server.cached_pages();
        assert_eq!(server.pregenerate(5000, true), 0);
        assert_eq!(server.cached_pages().0, n);

        // An empty team has one (empty) page.
        let empty = FakeDropbox::start(DropboxConfig::new(Team::generate(0, 1), TOKEN)).unwrap();
        assert_eq!(empty.pregenerate(1000, false), 1);
        assert_eq!(list(&empty, 1000, false).await.len(), 1);

        // Caching off: nothing is kept, pages are still right.
        let mut config = DropboxConfig::new(Team::generate(50, 4), TOKEN);
        config.cache_pages = false;
        let off = FakeDropbox::start(config).unwrap();
        assert_eq!(off.pregenerate(10, true), 0);
        let pages = list(&off, 10, true).await;
        assert_eq!(pages.len(), 5);
        assert_eq!(off.cached_pages(), (0, 0));
        for (position, body) in &pages {
            assert_eq!(body, uncached(&off, *position).as_bytes());
        }
    }

    #[tokio::test]
    async fn a_change_to_the_team_drops_rendered_pages() {
        let server =
            FakeDropbox::start(DropboxConfig::new(Team::generate(40, 3), TOKEN)).expect("start");
        let status = |pages: &[(Position, Bytes)], i: usize| {
            let page: serde_json::Value = serde_json::from_slice(&pages[0].1).unwrap();
            page["members"][i]["profile"]["status"][".tag"]
                .as_str()
                .unwrap()
                .to_string()
        };
        server.pregenerate(1000, true);
        let before = list(&server, 1000, true).await;
        assert_eq!(status(&before, 10), "active");
        assert!(server.cached_pages().0 > 0);

        // A member action.
        let email = server.with_team(|t| t.member(10).email);
        let (code, body) = post(
            &server,
            "/2/team/members/suspend",
            serde_json::json!({"user": {".tag": "email", "email": email}}),
        )
        .await;
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(server.cached_pages(), (0, 0));
        let after = list(&server, 1000, true).await;
        assert_eq!(status(&after, 10), "suspended");
        assert_eq!(after[0].1, uncached(&server, after[0].0).as_bytes());

        // update_team.
        let mut m = server.with_team(|t| t.member(11));
        m.status = crate::team::MemberStatus::Suspended;
        server.update_team(|t| t.set_member(11, m));
        assert_eq!(server.cached_pages(), (0, 0));
        let after = list(&server, 1000, true).await;
        assert_eq!(status(&after, 11), "suspended");

        // A growing team: the last page's cursor and has_more change too.
        server.pregenerate(1000, true);
        let mut m = server.with_team(|t| t.member(0));
        m.email = "late.joiner@example.com".into();
        m.team_member_id = "dbmid:AAlate".into();
        server.update_team(|t| t.set_member(1000, m));
        let pages = list(&server, 1000, true).await;
        assert_eq!(pages.len(), 2);
        for (position, body) in &pages {
            assert_eq!(body, uncached(&server, *position).as_bytes());
        }
    }

    #[tokio::test]
    async fn faults_alter_stored_pages_as_before() {
        let server =
            FakeDropbox::start(DropboxConfig::new(Team::generate(30, 5), TOKEN)).expect("start");
        server.pregenerate(1000, false);
        let position = Position {
            start: 0,
            limit: 1000,
            include_removed: false,
        };
        let full = uncached(&server, position);
        let list_body = serde_json::json!({"include_removed": false});

        server.inject(DropboxFault::MalformedJson, 1);
        let (code, body) = post(&server, "/2/team/members/list_v2", list_body.clone()).await;
        assert_eq!(code, 200);
        assert_eq!(body, cut_in_half(full.clone()).as_bytes());

        server.inject(DropboxFault::HugeBody(full.len() + 100), 1);
        let (code, body) = post(&server, "/2/team/members/list_v2", list_body.clone()).await;
        assert_eq!(code, 200);
        assert_eq!(body.len(), full.len() + 100);
        assert_eq!(body, pad_page(full.as_bytes(), full.len() + 100));

        server.inject(DropboxFault::EchoAuthorization, 1);
        let (code, body) = post(&server, "/2/team/members/list_v2", list_body.clone()).await;
        assert_eq!(code, 200);
        let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(page["cursor"], format!("Bearer {TOKEN}"));

        server.inject(DropboxFault::ServerError(503), 1);
        let (code, _) = post(&server, "/2/team/members/list_v2", list_body.clone()).await;
        assert_eq!(code, 503);

        // And the stored page is unharmed.
        let (code, body) = post(&server, "/2/team/members/list_v2", list_body).await;
        assert_eq!(code, 200);
        assert_eq!(body, full.as_bytes());
        assert_eq!(server.stats().faults_applied, 4);
    }

    #[test]
    fn page_rendering_speed() {
        let team = Team::generate(1_000_000, 5);
        let style = WireStyle::default();
        let position = Position {
            start: 500_000,
            limit: 1000,
            include_removed: true,
        };
        // Warm up, then time.
        let _ = render_page(&team, &style, position, |_| "c".into());
        let rounds = 5;
        let t = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..rounds {
            let (page, n) = render_page(&team, &style, position, |_| "c".into());
            assert_eq!(n, 1000);
            bytes += page.len();
        }
        let per_page = t.elapsed() / rounds;
        println!(
            "render of a 1000-member page: {per_page:?} ({} bytes)",
            bytes / rounds as usize
        );
        let (page, _) = render_page(&team, &style, position, |_| "c".into());
        let v: serde_json::Value = serde_json::from_str(&page).expect("valid JSON");
        assert_eq!(v["members"].as_array().map(Vec::len), Some(1000));
    }
}

//! The example configuration `demo` writes and the tests start from: a
//! working integration to copy, with every choice an operator must make
//! (the role, the accepted hosts, the actions that need no confirmation)
//! written out.

use std::path::Path;

/// The demo's config: the component's smart mapping, every member
/// (removed ones too), and the sandbox allowing only Dropbox's API origin,
/// which the host routes to the fake.
pub fn example_config(component: &Path, source_url: &str, oomnitza_url: &str) -> String {
    format!(
        r#"# Written by `oomnitza-connect demo`; a working example to copy.
[integration]
name = "Dropbox Users"
mode = "user-only"                 # or "user-plus-saas" (needs [saas])
preference = "create-and-update"   # or "create-only", "update-only"

[schedule]
every = "daily"
at = "02:00"
timezone = "UTC"

[component]
path = {component:?}

# The vendor the connector reads (Dropbox here).
[source]
url = "{source_url}"               # where https://api.dropboxapi.com is served (a fake here)
token = {{ file = "secrets.toml", key = "dropbox_token" }}
page_size = 1000
include_removed = true

[oomnitza]
url = "{oomnitza_url}"
token = {{ file = "secrets.toml", key = "oomnitza_token" }}
batch_size = 100
role = 25                          # the Oomnitza role (PERMISSIONS_ID) synced users get; you choose it

[actions]
safe = ["get-user-role"]           # runs without asking; every other action asks first (or needs --yes)

[sandbox]
allow = ["https://api.dropboxapi.com"]   # the hosts you accept; the credential goes to the first (or source.origin)
allow_loopback = true              # the fakes listen on 127.0.0.1; real deployments leave this off

# No [mapping]: the connector's smart mapping (see `oomnitza-connect describe`).
"#,
        component = component.display().to_string()
    )
}

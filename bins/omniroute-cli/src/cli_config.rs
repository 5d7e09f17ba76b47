//! The CLI's own config file, `cli.toml`, holding the `url` of a server and an admin `token` for
//! it. It is `$OMNIROUTE_CLI_CONFIG`, else `$XDG_CONFIG_HOME/omniroute/cli.toml`, else
//! `~/.config/omniroute/cli.toml`; `omniroute-cli login` writes it with mode 0600.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::http::{Error, base_url};
use crate::private_file;

/// The server used when neither `--url`, `OMNIROUTE_URL` nor the config file names one.
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:20128";

/// What `cli.toml` holds.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CliConfig {
    pub(crate) url: Option<String>,
    pub(crate) token: Option<String>,
}

/// Where the config file is, from the environment (`var` reads a variable).
pub(crate) fn path(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = set("OMNIROUTE_CLI_CONFIG") {
        return Some(p);
    }
    let config_home = set("XDG_CONFIG_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| set("HOME").map(|h| h.join(".config")))?;
    Some(config_home.join("omniroute").join("cli.toml"))
}

/// Reads the config file; a missing file is an empty configuration.
pub(crate) fn load(path: &Path) -> Result<CliConfig, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| Error::Other(format!("{}: {}", path.display(), e.message()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CliConfig::default()),
        Err(e) => Err(Error::Other(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Saves `url` and `token` as the whole config file (mode 0600, directories created).
pub(crate) fn save(path: &Path, url: &str, token: &str) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_file::create_dir(dir)?;
    }
    let text = format!(
        "# Written by `omniroute-cli login`.\nurl = {}\ntoken = {}\n",
        toml_string(url),
        toml_string(token)
    );
    private_file::write(path, true, |f| f.write_all(text.as_bytes()))
}

/// The server to talk to and the credential to use.
#[derive(Debug, PartialEq)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) token: Option<String>,
    /// Why no token is sent, when none is.
    pub(crate) no_token_hint: Option<String>,
}

/// Picks the URL (`--url`/`OMNIROUTE_URL`, else the file's, else [`DEFAULT_URL`]) and the token
/// (`--token`/`OMNIROUTE_ADMIN_TOKEN`, else the file's). The file's token is only sent to the
/// server the file names, so `--url` pointing elsewhere never leaks it.
pub(crate) fn resolve(
    url: Option<String>,
    token: Option<String>,
    file: Option<(&Path, CliConfig)>,
) -> Result<Target, Error> {
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let (url, token) = (non_empty(url), non_empty(token));
    let (file_path, file) = match file {
        Some((p, c)) => (Some(p), c),
        None => (None, CliConfig::default()),
    };
    let file_url = non_empty(file.url).map(|u| u.trim_end_matches('/').to_owned());
    let url = base_url(url.as_deref().or(file_url.as_deref()).unwrap_or(DEFAULT_URL))?;
    if token.is_some() {
        return Ok(Target { url, token, no_token_hint: None });
    }
    let shown =
        |p: Option<&Path>| p.map_or_else(|| "the config file".into(), |p| p.display().to_string());
    match (non_empty(file.token), file_url) {
        (Some(t), None) => Ok(Target { url, token: Some(t), no_token_hint: None }),
        (Some(t), Some(f)) if f == url => Ok(Target { url, token: Some(t), no_token_hint: None }),
        (Some(_), Some(f)) => Ok(Target {
            no_token_hint: Some(format!(
                "the token saved in {} is for {f}; pass --token or run `omniroute-cli login`",
                shown(file_path)
            )),
            url,
            token: None,
        }),
        (None, _) => Ok(Target {
            url,
            token: None,
            no_token_hint: Some(
                "no admin token: pass --token, set OMNIROUTE_ADMIN_TOKEN or run `omniroute-cli login`"
                    .into(),
            ),
        }),
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn the_path_follows_the_environment() {
        let p = |vars| path(env(vars));
        assert_eq!(
            p(&[("OMNIROUTE_CLI_CONFIG", "/x/c.toml"), ("HOME", "/h")]),
            Some("/x/c.toml".into())
        );
        assert_eq!(
            p(&[("XDG_CONFIG_HOME", "/cfg"), ("HOME", "/h")]),
            Some("/cfg/omniroute/cli.toml".into())
        );
        assert_eq!(p(&[("HOME", "/h")]), Some("/h/.config/omniroute/cli.toml".into()));
        // Empty and relative values are ignored, as the XDG spec asks.
        assert_eq!(
            p(&[("OMNIROUTE_CLI_CONFIG", ""), ("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")]),
            Some("/h/.config/omniroute/cli.toml".into())
        );
        assert_eq!(p(&[]), None);
    }

    fn file(url: Option<&str>, token: Option<&str>) -> CliConfig {
        CliConfig { url: url.map(Into::into), token: token.map(Into::into) }
    }

    #[test]
    fn flags_win_then_the_file_then_the_default() {
        let p = Path::new("/c/cli.toml");
        let t = resolve(Some("http://a:1/".into()), Some("tok".into()), None).unwrap();
        assert_eq!((t.url.as_str(), t.token.as_deref()), ("http://a:1", Some("tok")));
        let t = resolve(None, None, Some((p, file(Some("http://b:2"), Some("ft"))))).unwrap();
        assert_eq!((t.url.as_str(), t.token.as_deref()), ("http://b:2", Some("ft")));
        let t = resolve(None, None, None).unwrap();
        assert_eq!((t.url.as_str(), t.token), (DEFAULT_URL, None));
        assert!(t.no_token_hint.unwrap().contains("omniroute-cli login"));
        let t = resolve(None, None, Some((p, file(None, Some("ft"))))).unwrap();
        assert_eq!((t.url.as_str(), t.token.as_deref()), (DEFAULT_URL, Some("ft")));
    }

    #[test]
    fn the_files_token_goes_only_to_the_files_server() {
        let p = Path::new("/c/cli.toml");
        let t = resolve(
            Some("http://other:1".into()),
            None,
            Some((p, file(Some("http://b:2/"), Some("ft")))),
        )
        .unwrap();
        assert_eq!(t.token, None);
        assert!(t.no_token_hint.unwrap().contains("/c/cli.toml is for http://b:2"));
        let t = resolve(
            Some("http://b:2/".into()),
            None,
            Some((p, file(Some("http://b:2"), Some("ft")))),
        )
        .unwrap();
        assert_eq!(t.token.as_deref(), Some("ft"));
    }

    #[test]
    fn a_bad_url_is_a_usage_error() {
        assert_eq!(resolve(Some("localhost".into()), None, None).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn saved_files_read_back() {
        let dir = std::env::temp_dir().join(format!("omniroute-cli-{}-cfg", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = dir.join("omniroute").join("cli.toml");
        assert!(load(&p).unwrap().token.is_none(), "a missing file is empty");
        let token = "or-adm\"in\\tok\u{1}en";
        save(&p, "http://127.0.0.1:20128", token).unwrap();
        let c = load(&p).unwrap();
        assert_eq!(c.url.as_deref(), Some("http://127.0.0.1:20128"));
        assert_eq!(c.token.as_deref(), Some(token));
        save(&p, "http://x:1", "t2").unwrap();
        assert_eq!(load(&p).unwrap().token.as_deref(), Some("t2"));
        std::fs::write(&p, "url = 3").unwrap();
        assert_eq!(load(&p).unwrap_err().exit_code(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

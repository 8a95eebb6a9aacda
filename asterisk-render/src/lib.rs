//! `disca-asterisk-render`: the strict renderer that turns Disca's Asterisk
//! templates (`asterisk-config/`, embedded in this crate at build time) plus
//! a site directory into the configuration directory Asterisk reads. The
//! binary of the same name is what a company runs on its PBX, which has no
//! cargo and no checkout of this repository; the test bed and the
//! development PBX render through the same library.
//!
//! Asterisk configuration files cannot read environment variables, so every
//! site-specific scalar (AMI secret, ports, NAT addresses, certificate paths,
//! STUN/TURN...) lives in ONE file, the site's `site.vars`, and the templates
//! refer to it with placeholders:
//!
//! - `{{NAME}}` is replaced by the value of `NAME`, which must be defined and
//!   not empty;
//! - `{{?NAME}}` is for optional settings: when `NAME` is empty the whole line
//!   is commented out (Asterisk rejects `stunaddr =` with an empty value, for
//!   instance); otherwise it is replaced like `{{NAME}}`.
//!
//! Names are `[A-Z][A-Z0-9_]*`. Rendering fails, listing every problem, on an
//! undefined name, a malformed placeholder, or a variable that no file uses
//! (usually a typo in `site.vars`). Values are refused when they contain
//! control characters (CR, LF, TAB...), `;` (Asterisk would read the rest as
//! a comment) or leading/trailing blanks (Asterisk would trim them).
//!
//! `site.vars` holds `NAME = value` lines; blank lines and lines starting with
//! `#` are ignored; the value is everything after the first `=`, trimmed.
//!
//! The rendered tree is the templates' top-level `*.conf` files plus every
//! `*.conf` file of the site directory (sub-directories included, e.g.
//! `pjsip.d/acme.conf`); a site file replaces the template of the same name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};

/// Name of the variables file in a site directory.
pub const SITE_VARS_FILE: &str = "site.vars";

/// Site variables: the only place site-specific scalars are defined.
#[derive(Debug, Clone, Default)]
pub struct SiteVars {
    values: BTreeMap<String, String>,
}

impl SiteVars {
    /// No variables.
    pub fn new() -> SiteVars {
        SiteVars::default()
    }

    /// Reads a `site.vars` file.
    pub fn load(path: &Path) -> anyhow::Result<SiteVars> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        SiteVars::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses the text of a `site.vars` file.
    pub fn parse(text: &str) -> anyhow::Result<SiteVars> {
        let mut vars = SiteVars::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                bail!("line {}: expected NAME = value, got {line:?}", index + 1);
            };
            vars.define(name.trim(), value.trim())
                .with_context(|| format!("line {}", index + 1))?;
        }
        Ok(vars)
    }

    /// Defines a new variable; defining one twice is an error.
    pub fn define(&mut self, name: &str, value: &str) -> anyhow::Result<()> {
        check_name(name)?;
        check_value(name, value)?;
        ensure!(
            !self.values.contains_key(name),
            "variable {name} is defined twice"
        );
        self.values.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    /// Changes the value of a variable that is already defined.
    pub fn replace(&mut self, name: &str, value: &str) -> anyhow::Result<()> {
        check_value(name, value)?;
        let slot = self
            .values
            .get_mut(name)
            .with_context(|| format!("variable {name} is not defined"))?;
        value.clone_into(slot);
        Ok(())
    }

    /// The value of `name`, if defined.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every variable, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// The value of `name`, or an error naming it.
    pub fn require(&self, name: &str) -> anyhow::Result<&str> {
        self.get(name)
            .with_context(|| format!("site variable {name} is not defined"))
    }
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    ensure!(
        valid,
        "invalid variable name {name:?}: expected [A-Z][A-Z0-9_]*"
    );
    Ok(())
}

fn check_value(name: &str, value: &str) -> anyhow::Result<()> {
    ensure!(
        !value.chars().any(char::is_control),
        "value of {name} contains a control character (CR, LF, TAB...)"
    );
    ensure!(
        !value.contains(';'),
        "value of {name} contains ';', which starts a comment in Asterisk configuration"
    );
    ensure!(
        value.trim() == value,
        "value of {name} has leading or trailing blanks, which Asterisk would drop"
    );
    Ok(())
}

/// The templates: Disca's `asterisk-config/` as built into this crate, or
/// a directory of them (`--templates`, to try a changed template without
/// rebuilding).
#[derive(Debug, Clone)]
pub enum Templates {
    Embedded,
    Dir(PathBuf),
}

/// `asterisk-config/`, embedded at build time (`build.rs` makes cargo
/// rebuild when a file there is added or changed).
static EMBEDDED: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../asterisk-config");

/// One file to render: where it came from (for messages) and its text.
struct Source {
    origin: String,
    text: String,
}

impl Templates {
    /// The top-level `*.conf` files, by file name.
    fn files(&self) -> anyhow::Result<BTreeMap<PathBuf, Source>> {
        let mut files = BTreeMap::new();
        match self {
            Templates::Embedded => {
                for file in EMBEDDED.files().filter(|f| is_conf(f.path())) {
                    let text = file
                        .contents_utf8()
                        .with_context(|| format!("{} is not UTF-8", file.path().display()))?;
                    let origin = format!("built-in asterisk-config/{}", file.path().display());
                    let source = Source {
                        origin,
                        text: text.to_owned(),
                    };
                    files.insert(file.path().to_path_buf(), source);
                }
            }
            Templates::Dir(dir) => {
                for entry in
                    fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?
                {
                    let path = entry?.path();
                    if path.is_file() && is_conf(&path) {
                        let name = PathBuf::from(path.file_name().unwrap_or_default());
                        files.insert(name, Source::read(&path)?);
                    }
                }
            }
        }
        Ok(files)
    }
}

impl Source {
    fn read(path: &Path) -> anyhow::Result<Source> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Source {
            origin: path.display().to_string(),
            text,
        })
    }
}

/// Renders `templates` (top-level `*.conf`) and `site` (every `*.conf`,
/// recursively) into `out`, which must not exist or be empty. Returns the
/// files written, relative to `out`.
pub fn render_config(
    templates: &Templates,
    site: &Path,
    vars: &SiteVars,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    if out.exists() {
        let mut entries =
            fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?;
        ensure!(
            entries.next().is_none(),
            "refusing to render into non-empty {}",
            out.display()
        );
    }
    let mut sources = templates.files()?;
    collect_site_files(site, Path::new(""), &mut sources)?;

    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    let mut rendered = Vec::new();
    for (relative, source) in &sources {
        match render_text(&source.text, vars, &mut used) {
            Ok(output) => rendered.push((relative, output)),
            Err(errors) => {
                problems.extend(errors.into_iter().map(|e| format!("{}:{e}", source.origin)))
            }
        }
    }
    for name in vars
        .values
        .keys()
        .filter(|name| !used.contains(name.as_str()))
    {
        problems.push(format!(
            "site variable {name} is not used by any configuration file (a typo?)"
        ));
    }
    if !problems.is_empty() {
        bail!(
            "cannot render the Asterisk configuration:\n  {}",
            problems.join("\n  ")
        );
    }
    let mut written = Vec::new();
    for (relative, output) in rendered {
        let target = out.join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&target, output).with_context(|| format!("writing {}", target.display()))?;
        written.push(relative.clone());
    }
    Ok(written)
}

/// Renders the site directory `site` (its `site.vars` and tenant files)
/// into `out`: what the `disca-asterisk-render` binary does.
pub fn render_site(templates: &Templates, site: &Path, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let vars = SiteVars::load(&site.join(SITE_VARS_FILE))?;
    render_config(templates, site, &vars, out)
}

fn is_conf(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "conf")
}

fn collect_site_files(
    root: &Path,
    relative: &Path,
    sources: &mut BTreeMap<PathBuf, Source>,
) -> anyhow::Result<()> {
    let dir = root.join(relative);
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = relative.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            collect_site_files(root, &name, sources)?;
        } else if is_conf(&path) {
            sources.insert(name, Source::read(&path)?);
        }
    }
    Ok(())
}

/// One placeholder found on a line.
struct Placeholder<'a> {
    start: usize,
    end: usize,
    name: &'a str,
    optional: bool,
}

/// Renders one file's text; errors are `line: message`.
fn render_text(
    text: &str,
    vars: &SiteVars,
    used: &mut BTreeSet<String>,
) -> Result<String, Vec<String>> {
    let mut output = String::with_capacity(text.len());
    let mut errors = Vec::new();
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let placeholders = match find_placeholders(line) {
            Ok(found) => found,
            Err(message) => {
                errors.push(format!("{}: {message}", index + 1));
                continue;
            }
        };
        let mut omit_because = None;
        for placeholder in &placeholders {
            used.insert(placeholder.name.to_owned());
            match vars.get(placeholder.name) {
                None => errors.push(format!(
                    "{}: undefined variable {}",
                    index + 1,
                    placeholder.name
                )),
                Some("") if placeholder.optional => omit_because = Some(placeholder.name),
                Some("") => errors.push(format!(
                    "{}: variable {} is empty (use {{{{?{}}}}} for an optional setting)",
                    index + 1,
                    placeholder.name,
                    placeholder.name
                )),
                Some(_) => {}
            }
        }
        if let Some(name) = omit_because {
            let content = line.trim_end_matches(['\r', '\n']);
            // Writing to a String cannot fail.
            let _ = writeln!(output, "; omitted because {name} is empty: {content}");
            continue;
        }
        let mut last = 0;
        for placeholder in &placeholders {
            output.push_str(&line[last..placeholder.start]);
            output.push_str(vars.get(placeholder.name).unwrap_or_default());
            last = placeholder.end;
        }
        output.push_str(&line[last..]);
    }
    if errors.is_empty() {
        Ok(output)
    } else {
        Err(errors)
    }
}

fn find_placeholders(line: &str) -> Result<Vec<Placeholder<'_>>, String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = line[from..].find("{{") {
        let start = from + offset;
        let Some(length) = line[start..].find("}}") else {
            return Err(format!("unterminated placeholder at column {}", start + 1));
        };
        let inner = &line[start + 2..start + length];
        let (name, optional) = match inner.strip_prefix('?') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        check_name(name).map_err(|e| format!("malformed placeholder {{{{{inner}}}}}: {e}"))?;
        found.push(Placeholder {
            start,
            end: start + length + 2,
            name,
            optional,
        });
        from = start + length + 2;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> SiteVars {
        let mut vars = SiteVars::new();
        for (name, value) in pairs {
            vars.define(name, value).unwrap();
        }
        vars
    }

    fn render(text: &str, vars: &SiteVars) -> Result<String, Vec<String>> {
        render_text(text, vars, &mut BTreeSet::new())
    }

    #[test]
    fn replaces_placeholders() {
        let vars = vars(&[("PORT", "5038"), ("ADDR", "127.0.0.1")]);
        assert_eq!(
            render("bind = {{ADDR}}:{{PORT}}\nx = y\n", &vars).unwrap(),
            "bind = 127.0.0.1:5038\nx = y\n"
        );
    }

    #[test]
    fn optional_placeholder_comments_out_the_line_when_empty() {
        let vars = vars(&[("STUN", ""), ("TURN", "turn.example.com")]);
        let out = render("stunaddr = {{?STUN}}\nturnaddr = {{?TURN}}\n", &vars).unwrap();
        assert_eq!(
            out,
            "; omitted because STUN is empty: stunaddr = {{?STUN}}\nturnaddr = turn.example.com\n"
        );
    }

    #[test]
    fn rejects_undefined_empty_and_malformed() {
        let vars = vars(&[("EMPTY", "")]);
        let errors = render(
            "a = {{MISSING}}\nb = {{EMPTY}}\nc = {{lower}}\nd = {{OPEN\n",
            &vars,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("1: undefined variable MISSING"));
        assert!(errors[1].starts_with("2: variable EMPTY is empty"));
        assert!(errors[2].starts_with("3: malformed placeholder"));
        assert!(errors[3].starts_with("4: unterminated placeholder"));
    }

    #[test]
    fn dialplan_braces_are_not_placeholders() {
        let vars = SiteVars::new();
        let line = "same => n,Set(A=${REGEX(\"^[0-9]{9,10}$\" ${N})})\n";
        assert_eq!(render(line, &vars).unwrap(), line);
    }

    #[test]
    fn refuses_dangerous_values() {
        let mut vars = SiteVars::new();
        assert!(vars.define("SECRET", "abc\r\nAction: Command").is_err());
        assert!(vars.define("SECRET", "a\tb").is_err());
        assert!(vars.define("SECRET", "abc;def").is_err());
        assert!(vars.define("SECRET", " abc").is_err());
        assert!(vars.define("secret", "abc").is_err());
        vars.define("SECRET", "abc").unwrap();
        assert!(vars.define("SECRET", "again").is_err());
        vars.replace("SECRET", "new").unwrap();
        assert_eq!(vars.get("SECRET"), Some("new"));
        assert!(vars.replace("OTHER", "x").is_err());
    }

    #[test]
    fn parses_site_vars() {
        let vars =
            SiteVars::parse("# comment\n\nAMI_PORT = 5038\nSTUN_ADDRESS =\nURL = a=b\n").unwrap();
        assert_eq!(vars.get("AMI_PORT"), Some("5038"));
        assert_eq!(vars.get("STUN_ADDRESS"), Some(""));
        assert_eq!(vars.get("URL"), Some("a=b"));
        assert!(SiteVars::parse("NO_EQUALS_SIGN\n").is_err());
        assert!(SiteVars::parse("A = 1\nA = 2\n").is_err());
    }

    #[test]
    fn example_site_renders_once_its_secrets_are_set() {
        let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("../asterisk-config/site.example");
        let base = Templates::Embedded;
        let mut vars = SiteVars::load(&site.join(SITE_VARS_FILE)).unwrap();
        let out = tempfile::tempdir().unwrap();
        let error = render_config(&base, &site, &vars, &out.path().join("refused")).unwrap_err();
        assert!(
            format!("{error:#}").contains("variable AMI_SECRET is empty"),
            "{error:#}"
        );
        let secrets = [
            "AMI_SECRET",
            "ACME_1001_PASSWORD",
            "ACME_1002_PASSWORD",
            "ACME_1003_PASSWORD",
            "GLOBEX_2001_PASSWORD",
            "GLOBEX_TRUNK_PASSWORD",
        ];
        for name in secrets {
            vars.replace(name, "not-a-real-secret").unwrap();
        }
        let etc = out.path().join("etc");
        let written = render_config(&base, &site, &vars, &etc).unwrap();
        assert!(
            written.contains(&PathBuf::from("pjsip.d/globex.conf")),
            "{written:?}"
        );
        let manager = fs::read_to_string(etc.join("manager.conf")).unwrap();
        assert!(manager.contains("bindaddr = 127.0.0.1"));
        assert!(manager.contains("[disca]\nsecret = not-a-real-secret\n"));
        let rtp = fs::read_to_string(etc.join("rtp.conf")).unwrap();
        assert!(rtp.contains("; omitted because TURN_ADDRESS is empty"));
    }

    #[test]
    fn renders_a_tree_and_reports_unused_variables() {
        let base = tempfile::tempdir().unwrap();
        let site = tempfile::tempdir().unwrap();
        fs::write(base.path().join("a.conf"), "port = {{PORT}}\n").unwrap();
        fs::write(base.path().join("b.conf"), "base\n").unwrap();
        fs::write(base.path().join("README.md"), "{{NOT_RENDERED}}\n").unwrap();
        fs::create_dir(site.path().join("pjsip.d")).unwrap();
        fs::write(site.path().join("pjsip.d").join("t.conf"), "[t-{{PORT}}]\n").unwrap();
        fs::write(site.path().join("b.conf"), "site\n").unwrap();
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("etc");

        let unused = vars(&[("PORT", "1"), ("TYPO", "x")]);
        let error = render_config(
            &Templates::Dir(base.path().into()),
            site.path(),
            &unused,
            &target,
        )
        .unwrap_err();
        assert!(
            format!("{error:#}").contains("TYPO is not used"),
            "{error:#}"
        );

        let written = render_config(
            &Templates::Dir(base.path().into()),
            site.path(),
            &vars(&[("PORT", "1")]),
            &target,
        )
        .unwrap();
        assert_eq!(written.len(), 3);
        assert_eq!(
            fs::read_to_string(target.join("a.conf")).unwrap(),
            "port = 1\n"
        );
        assert_eq!(fs::read_to_string(target.join("b.conf")).unwrap(), "site\n");
        assert_eq!(
            fs::read_to_string(target.join("pjsip.d/t.conf")).unwrap(),
            "[t-1]\n"
        );
        assert!(
            render_config(
                &Templates::Dir(base.path().into()),
                site.path(),
                &vars(&[("PORT", "1")]),
                &target
            )
            .is_err(),
            "non-empty target"
        );
    }
}

//! The declarative configuration file (`postern apply FILE`, `serve --config FILE`): TOML text →
//! a checked [`ConfigFile`] in one step, or the list of *every* error found, each with its path
//! (`aliases[2].model: missing field`).
//!
//! Per item, the file is read with serde; when an item has an error, the field at fault is
//! recorded and removed and the item is read again, so that one item with three mistakes yields
//! three errors rather than the first one. References between items (an alias's domain, a
//! company's domain) are checked when the file is applied, against the file and the database.

use postern_store::{
    AliasDomainInput, AliasInput, CompanyInput, IncomingServerInput, ModelInput,
    OutgoingServerInput, PartnerInput, WebhookInput,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fmt;

/// One error of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where: `aliases[2].model`, `server.http_listen`, `params."mail.gateway.loop.minutes"`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl ConfigError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The `[server]` section: how `postern serve` listens.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// SMTP banner and right part of Message-IDs.
    pub hostname: String,
    /// SMTP listener address.
    pub smtp_listen: String,
    /// LMTP listener address (`""`: off).
    pub lmtp_listen: String,
    /// HTTP API and admin UI address.
    pub http_listen: String,
    /// Largest message accepted: `"25MB"`, or a TOML integer of bytes; parsed once, here.
    pub max_message_size: MessageSize,
    /// Mode of the LMTP unix socket (octal text), e.g. `0660`.
    pub lmtp_socket_mode: String,
    /// Group of the LMTP unix socket (`""`: the group of the user running Postern).
    pub lmtp_socket_group: String,
    /// How `RCPT` judges an address of a served domain: `alias` (only what an alias, the
    /// catchall, the bounce address or postmaster could accept) or `domain` (any address).
    pub recipient_check: String,
    /// Odoo's behaviour on SMTP/LMTP: accept a refused message with 250 and mail a bounce
    /// (default false: refuse it in the session with a 5xx and the explanation).
    pub odoo_bounce_mails: bool,
    /// PEM certificate (chain) for STARTTLS; empty: a self-signed one for `hostname`.
    pub tls_certificate: String,
    /// PEM private key of `tls_certificate`.
    pub tls_private_key: String,
    /// The HTTP server's address as recipients reach it (`https://mail.example.com`), for the
    /// one-click unsubscribe links of mass mail; empty: `http://<http_listen>`.
    pub public_url: String,
    /// DNS servers asked by `postern dns check` (and sender authentication): `"ip:port"`, or
    /// an IP for port 53; empty: those of `/etc/resolv.conf`.
    pub dns: Vec<String>,
    /// Longest wait for one DNS answer (`"5s"`; 1 s to 60 s); a query is tried twice.
    pub dns_timeout: String,
    /// Verify SPF, DKIM and DMARC of mail arriving over SMTP: a From that fails DMARC is not
    /// trusted to name a known partner.
    pub verify_senders: bool,
    /// The authserv-ids whose `Authentication-Results` fields are trusted for mail Postern
    /// does not verify itself (LMTP, pipe, HTTP, IMAP, POP3): an MTA in front that verifies.
    pub trusted_authserv_ids: Vec<String>,
    /// The `[limits]` section (a section of its own in the file, kept here so that every
    /// command that reads the server's settings has them).
    #[serde(skip)]
    pub limits: crate::limits::LimitSettings,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            hostname: "localhost".into(),
            smtp_listen: "127.0.0.1:2525".into(),
            lmtp_listen: String::new(),
            http_listen: "127.0.0.1:8025".into(),
            max_message_size: MessageSize::default(),
            lmtp_socket_mode: "0660".into(),
            lmtp_socket_group: String::new(),
            recipient_check: "alias".into(),
            odoo_bounce_mails: false,
            tls_certificate: String::new(),
            tls_private_key: String::new(),
            public_url: String::new(),
            dns: Vec::new(),
            dns_timeout: "5s".into(),
            verify_senders: false,
            trusted_authserv_ids: Vec::new(),
            limits: Default::default(),
        }
    }
}

/// A size in bytes, written `"25MB"`, `"512KB"`, `"1GB"` (powers of 1024) or as a TOML integer
/// of bytes (`1048576`); more than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSize(pub u64);

impl Default for MessageSize {
    fn default() -> Self {
        MessageSize(postern_model::DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl MessageSize {
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for MessageSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Size {
            Bytes(u64),
            Text(String),
        }
        let bytes = match Size::deserialize(d) {
            Ok(Size::Bytes(n)) => Some(n),
            Ok(Size::Text(t)) => parse_size(&t),
            Err(_) => None,
        };
        match bytes {
            Some(n) if n > 0 => Ok(MessageSize(n)),
            _ => Err(serde::de::Error::custom(
                "expected a size such as \"25MB\" or a number of bytes (more than 0)",
            )),
        }
    }
}

impl ServerSettings {
    /// `recipient_check` as the gateway's setting (checked when the file was read).
    pub fn recipient_check(&self) -> postern_gateway::RecipientCheck {
        match self.recipient_check.as_str() {
            "domain" => postern_gateway::RecipientCheck::Domain,
            _ => postern_gateway::RecipientCheck::Alias,
        }
    }

    /// The resolver's settings (checked when the file was read).
    pub fn dns(&self) -> postern_auth::DnsSettings {
        postern_auth::DnsSettings {
            servers: self
                .dns
                .iter()
                .filter_map(|d| parse_dns_server(d))
                .collect(),
            timeout: std::time::Duration::from_secs(
                dns_timeout_secs(&self.dns_timeout).unwrap_or(5),
            ),
            ..Default::default()
        }
    }

    /// `lmtp_socket_mode` as a number (checked when the file was read).
    pub fn lmtp_socket_mode(&self) -> u32 {
        u32::from_str_radix(self.lmtp_socket_mode.trim(), 8).unwrap_or(0o660)
    }
}

/// A DNS server: `ip:port` (`[v6]:port`), or an IP for port 53.
fn parse_dns_server(text: &str) -> Option<std::net::SocketAddr> {
    let t = text.trim();
    t.parse()
        .ok()
        .or_else(|| t.parse::<std::net::IpAddr>().ok().map(|ip| (ip, 53).into()))
}

/// `dns_timeout` in seconds, when between 1 and 60.
fn dns_timeout_secs(text: &str) -> Option<u64> {
    postern_store::parse_duration_secs(text)
        .filter(|s| (1..=60).contains(s))
        .map(|s| s as u64)
}

/// Parses `25MB`, `512KB`, `1GB` or a number of bytes (units are powers of 1024).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_uppercase();
    let (num, mult) = [
        ("GB", 1u64 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(unit, m)| t.strip_suffix(unit).map(|n| (n.trim().to_owned(), *m)))
    .unwrap_or((t.clone(), 1));
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// A configuration file, checked item by item. Each item keeps its index in the file, so that
/// errors found later (when applying) name the right `section[i]` even when an earlier item of
/// the section was dropped for its own errors.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// `[server]`, defaults when absent.
    pub server: ServerSettings,
    /// `[[alias_domains]]`.
    pub alias_domains: Vec<(usize, AliasDomainInput)>,
    /// `[[companies]]`.
    pub companies: Vec<(usize, CompanyInput)>,
    /// `[[models]]`.
    pub models: Vec<(usize, ModelInput)>,
    /// `[[aliases]]`.
    pub aliases: Vec<(usize, AliasInput)>,
    /// `[[partners]]`.
    pub partners: Vec<(usize, PartnerInput)>,
    /// `[[outgoing_servers]]`.
    pub outgoing_servers: Vec<(usize, OutgoingServerInput)>,
    /// `[[incoming_servers]]`.
    pub incoming_servers: Vec<(usize, IncomingServerInput)>,
    /// `[[webhooks]]`.
    pub webhooks: Vec<(usize, WebhookInput)>,
    /// `[[dkim_keys]]`: DKIM keys kept in files.
    pub dkim_keys: Vec<(usize, DkimKeyFile)>,
    /// `[params]`, values as text.
    pub params: Vec<(String, String)>,
    /// `gateway_allowed = [...]`: senders never rate-limited (Odoo's `mail.gateway.allowed`).
    pub gateway_allowed: Vec<(usize, String)>,
}

/// A `[[dkim_keys]]` item: a DKIM key of an alias domain kept in a file (PEM or DER, see
/// `postern_auth::keys::read_key_file`), not in the store. A relative `key_file` is relative
/// to the configuration file's directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimKeyFile {
    /// The alias domain (declared in the file or in the store already).
    pub alias_domain: String,
    /// The selector (`s=`): the TXT record is at `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// The file of the private key.
    pub key_file: std::path::PathBuf,
}

impl ConfigFile {
    /// Makes the relative paths of the file (`[[dkim_keys]] key_file`) relative to `dir`, the
    /// configuration file's directory, and absolute.
    pub fn resolve_paths(&mut self, dir: &std::path::Path) {
        for (_, k) in &mut self.dkim_keys {
            if k.key_file.is_relative() {
                let joined = dir.join(&k.key_file);
                k.key_file = std::path::absolute(&joined).unwrap_or(joined);
            }
        }
    }
}

const SECTIONS: &[&str] = &[
    "server",
    "limits",
    "alias_domains",
    "companies",
    "models",
    "aliases",
    "partners",
    "outgoing_servers",
    "incoming_servers",
    "webhooks",
    "dkim_keys",
    "params",
    "gateway_allowed",
];

impl ConfigFile {
    /// Reads a configuration from TOML text; `Err` holds every error found.
    #[cfg(test)]
    pub fn parse(text: &str) -> Result<ConfigFile, Vec<ConfigError>> {
        let (file, errors) = ConfigFile::parse_lenient(text);
        if errors.is_empty() {
            Ok(file)
        } else {
            Err(errors)
        }
    }

    /// Reads a configuration from TOML text: the items that are well formed, and the errors of
    /// the others (so that applying the good items can report their errors too).
    pub fn parse_lenient(text: &str) -> (ConfigFile, Vec<ConfigError>) {
        let table: toml::Table = match toml::from_str(text) {
            Ok(t) => t,
            Err(e) => return (ConfigFile::default(), vec![syntax_error(text, &e)]),
        };
        let mut errors = Vec::new();
        let mut file = ConfigFile::default();
        for key in table.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                errors.push(ConfigError::new(
                    key.clone(),
                    format!("unknown section, expected one of: {}", SECTIONS.join(", ")),
                ));
            }
        }
        if let Some(v) = table.get("server")
            && let Some(s) = read_item::<ServerSettings>("server", v, &mut errors)
        {
            check_server(&s, &mut errors);
            file.server = s;
        }
        if let Some(v) = table.get("limits")
            && let Some(l) = read_item::<crate::limits::LimitSettings>("limits", v, &mut errors)
        {
            crate::limits::check(&l, &mut errors);
            file.server.limits = l;
        }
        file.alias_domains = read_list(&table, "alias_domains", &mut errors);
        file.companies = read_list(&table, "companies", &mut errors);
        file.models = read_list(&table, "models", &mut errors);
        file.aliases = read_list(&table, "aliases", &mut errors);
        file.partners = read_list(&table, "partners", &mut errors);
        file.outgoing_servers = read_list(&table, "outgoing_servers", &mut errors);
        file.incoming_servers = read_list(&table, "incoming_servers", &mut errors);
        file.webhooks = read_list(&table, "webhooks", &mut errors);
        file.dkim_keys = read_list(&table, "dkim_keys", &mut errors);
        file.params = read_params(&table, &mut errors);
        file.gateway_allowed = read_allowed(&table, &mut errors);
        check_duplicates(&file, &mut errors);
        (file, errors)
    }
}

fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let place = e.span().map(|span| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {col}")
    });
    ConfigError::new(
        place.unwrap_or_default(),
        format!("TOML syntax: {}", e.message()),
    )
}

fn check_server(s: &ServerSettings, errors: &mut Vec<ConfigError>) {
    for (field, value, may_be_empty) in [
        ("smtp_listen", &s.smtp_listen, true),
        ("http_listen", &s.http_listen, false),
    ] {
        if value.is_empty() && may_be_empty {
            continue;
        }
        if value.parse::<std::net::SocketAddr>().is_err() {
            errors.push(ConfigError::new(
                format!("server.{field}"),
                format!("`{value}` is not an address:port such as 127.0.0.1:8025"),
            ));
        }
    }
    let lmtp = &s.lmtp_listen;
    if !lmtp.is_empty()
        && !lmtp.starts_with("unix:")
        && lmtp.parse::<std::net::SocketAddr>().is_err()
    {
        errors.push(ConfigError::new(
            "server.lmtp_listen",
            format!("`{lmtp}` is neither address:port nor unix:/path"),
        ));
    }
    let url = &s.public_url;
    if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
        errors.push(ConfigError::new(
            "server.public_url",
            format!("`{}` is not an http(s) URL", s.public_url),
        ));
    }
    for (i, d) in s.dns.iter().enumerate() {
        if parse_dns_server(d).is_none() {
            errors.push(ConfigError::new(
                format!("server.dns[{i}]"),
                format!("`{d}` is not a DNS server such as 127.0.0.1:53 or 192.0.2.1"),
            ));
        }
    }
    if dns_timeout_secs(&s.dns_timeout).is_none() {
        errors.push(ConfigError::new(
            "server.dns_timeout",
            format!("`{}` is not a duration from 1s to 60s", s.dns_timeout),
        ));
    }
    if s.tls_certificate.is_empty() != s.tls_private_key.is_empty() {
        errors.push(ConfigError::new(
            "server.tls_private_key",
            "tls_certificate and tls_private_key go together: give both or neither",
        ));
    }
    if !matches!(s.recipient_check.as_str(), "alias" | "domain") {
        errors.push(ConfigError::new(
            "server.recipient_check",
            format!("`{}` is not one of: alias, domain", s.recipient_check),
        ));
    }
    if !u32::from_str_radix(s.lmtp_socket_mode.trim(), 8).is_ok_and(|m| m <= 0o777) {
        errors.push(ConfigError::new(
            "server.lmtp_socket_mode",
            format!(
                "`{}` is not a file mode in octal such as 0660",
                s.lmtp_socket_mode
            ),
        ));
    }
    if !s.lmtp_socket_group.is_empty() && !s.lmtp_listen.starts_with("unix:") {
        errors.push(ConfigError::new(
            "server.lmtp_socket_group",
            "only for a unix socket: set lmtp_listen = \"unix:/path\"",
        ));
    }
    if s.hostname.trim().is_empty() || s.hostname.contains(char::is_whitespace) {
        errors.push(ConfigError::new("server.hostname", "must be a host name"));
    }
}

fn read_list<T: DeserializeOwned>(
    table: &toml::Table,
    section: &str,
    errors: &mut Vec<ConfigError>,
) -> Vec<(usize, T)> {
    let Some(value) = table.get(section) else {
        return Vec::new();
    };
    let Some(items) = value.as_array() else {
        errors.push(ConfigError::new(
            section,
            format!("must be an array of tables: write each item as [[{section}]]"),
        ));
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| read_item(&format!("{section}[{i}]"), v, errors).map(|t| (i, t)))
        .collect()
}

/// Reads one item, collecting every field error: on an error, the field at fault is reported,
/// removed, and the item read again (at most once per field).
fn read_item<T: DeserializeOwned>(
    path: &str,
    value: &toml::Value,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let Some(table) = value.as_table() else {
        errors.push(ConfigError::new(path, "must be a table"));
        return None;
    };
    let mut table = table.clone();
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..=table.len() {
        match serde_path_to_error::deserialize::<_, T>(toml::Value::Table(table.clone())) {
            // An item read after dropping bad fields is still returned: applying it (always
            // rolled back, since errors exist) finds the errors of its other fields.
            Ok(item) => return Some(item),
            Err(e) => {
                let inner = e.inner().to_string();
                let field = e
                    .path()
                    .iter()
                    .next()
                    .map(|seg| seg.to_string())
                    .filter(|f| f != "?");
                let culprit = field
                    .filter(|f| table.contains_key(f))
                    .or_else(|| backticked(&inner, "unknown field"));
                // A required field removed for a bad value is not "missing" as well.
                let missing = backticked(&inner, "missing field");
                if missing.is_none_or(|m| !removed.contains(&m)) {
                    errors.push(field_error(
                        path,
                        culprit.as_deref(),
                        &inner,
                        &e.path().to_string(),
                    ));
                }
                match culprit {
                    Some(f) if table.remove(&f).is_some() => {
                        removed.push(f);
                        continue;
                    }
                    _ => return None,
                }
            }
        }
    }
    None
}

fn field_error(path: &str, field: Option<&str>, message: &str, inner_path: &str) -> ConfigError {
    if let Some(missing) = backticked(message, "missing field") {
        return ConfigError::new(format!("{path}.{missing}"), "missing (required)");
    }
    let full = match field {
        Some(_) if inner_path != "." && !inner_path.is_empty() => format!("{path}.{inner_path}"),
        Some(f) => format!("{path}.{f}"),
        None => path.to_owned(),
    };
    ConfigError::new(full, clean_message(message))
}

/// serde's messages carry the TOML value's own position hints; keep the sentence.
fn clean_message(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_owned()
}

/// The name in backticks after `prefix` in a serde message (`unknown field `modle``).
fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    let start = rest.find('`')? + 1;
    let end = rest[start..].find('`')? + start;
    Some(rest[start..end].to_owned())
}

fn read_allowed(table: &toml::Table, errors: &mut Vec<ConfigError>) -> Vec<(usize, String)> {
    let Some(value) = table.get("gateway_allowed") else {
        return Vec::new();
    };
    let Some(items) = value.as_array() else {
        errors.push(ConfigError::new(
            "gateway_allowed",
            "must be a list of e-mail addresses",
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, v) in items.iter().enumerate() {
        match v.as_str() {
            Some(a) if postern_model::address::email_normalize(a).is_some() => {
                out.push((i, a.to_owned()))
            }
            _ => errors.push(ConfigError::new(
                format!("gateway_allowed[{i}]"),
                "must be one e-mail address",
            )),
        }
    }
    out
}

fn read_params(table: &toml::Table, errors: &mut Vec<ConfigError>) -> Vec<(String, String)> {
    let Some(value) = table.get("params") else {
        return Vec::new();
    };
    let Some(params) = value.as_table() else {
        errors.push(ConfigError::new("params", "must be a table of key = value"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, v) in params {
        let path = format!("params.\"{key}\"");
        let text = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            _ => {
                errors.push(ConfigError::new(
                    path,
                    "must be a string, number or boolean",
                ));
                continue;
            }
        };
        match postern_store::sanitize_param(key, &text) {
            Ok(_) => out.push((key.clone(), text)),
            Err(e) => errors.push(ConfigError::new(path, store_message(&e))),
        }
    }
    out
}

/// The message of a store error without the field prefix (the path says it already).
pub(crate) fn store_message(e: &postern_store::StoreError) -> String {
    match e {
        postern_store::StoreError::Invalid { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Two items of one section with the same key would silently overwrite each other: refuse.
/// An error for every item of `items` whose `key` an earlier item had.
fn dups<T>(
    section: &str,
    field: &str,
    items: &[(usize, T)],
    key: impl Fn(&T) -> String,
    errors: &mut Vec<ConfigError>,
) {
    let mut seen = HashSet::new();
    for (i, item) in items {
        let k = key(item);
        if !seen.insert(k.clone()) {
            errors.push(ConfigError::new(
                format!("{section}[{i}].{field}"),
                format!("`{k}` is already defined earlier in {section}"),
            ));
        }
    }
}

fn check_duplicates(file: &ConfigFile, errors: &mut Vec<ConfigError>) {
    dups(
        "alias_domains",
        "name",
        &file.alias_domains,
        |d| d.name.trim().to_lowercase(),
        errors,
    );
    dups(
        "companies",
        "name",
        &file.companies,
        |c| c.name.trim().to_owned(),
        errors,
    );
    dups(
        "models",
        "name",
        &file.models,
        |m| m.name.trim().to_owned(),
        errors,
    );
    let alias_key = |a: &AliasInput| {
        let name =
            postern_model::address::sanitize_alias_name(&a.alias_name, false).unwrap_or_default();
        format!(
            "{name}@{}",
            a.alias_domain
                .as_deref()
                .unwrap_or("")
                .trim()
                .to_lowercase()
        )
    };
    dups("aliases", "alias_name", &file.aliases, alias_key, errors);
    let partner_key = |p: &PartnerInput| match p
        .email
        .as_deref()
        .and_then(postern_model::address::email_normalize)
    {
        Some(e) => e,
        None => p.name.trim().to_owned(),
    };
    dups("partners", "email", &file.partners, partner_key, errors);
    dups(
        "outgoing_servers",
        "name",
        &file.outgoing_servers,
        |s| s.name.trim().to_owned(),
        errors,
    );
    dups(
        "incoming_servers",
        "name",
        &file.incoming_servers,
        |s| s.name.trim().to_owned(),
        errors,
    );
    // A webhook without a name is known by its URL (as `apply` upserts it).
    let webhook_key = |w: &postern_store::WebhookInput| match w.name.trim() {
        "" => w.url.trim().to_owned(),
        name => name.to_owned(),
    };
    dups("webhooks", "name", &file.webhooks, webhook_key, errors);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of DESIGN.md, kept in `docs/example.toml`.
    const EXAMPLE: &str = include_str!("../../../docs/example.toml");

    #[test]
    fn the_design_example_parses() {
        let f = ConfigFile::parse(EXAMPLE).unwrap();
        assert_eq!(f.server.smtp_listen, "127.0.0.1:2525");
        assert_eq!(f.alias_domains.len(), 1);
        assert_eq!(f.aliases[0].1.model, "crm.lead");
        assert_eq!(
            f.incoming_servers[0].1.password_env.as_deref(),
            Some("SUPPORT_IMAP_PASSWORD")
        );
        assert!(
            f.params
                .contains(&("mail.gateway.loop.minutes".into(), "120".into()))
        );
    }

    fn errors(text: &str) -> Vec<String> {
        ConfigFile::parse(text)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn every_error_is_listed_with_its_path() {
        let errs = errors(
            r#"
[server]
http_listen = "nowhere"
[[aliases]]
alias_name = "a"
model = "crm.lead"
[[aliases]]
alias_name = "b"
model = "crm.lead"
[[aliases]]
alias_name = "c"
modle = "crm.lead"
contact = "nobody"
[[outgoing_servers]]
name = "relay"
host = "h"
port = "twenty-five"
encryption = "tls"
[params]
"mail.gateway.loop.minutes" = "soon"
[extra]
x = 1
"#,
        );
        let joined = errors_text(&errs);
        for expected in [
            "server.http_listen: `nowhere` is not an address:port",
            "aliases[2].modle: unknown field `modle`",
            "aliases[2].contact: unknown variant `nobody`",
            "aliases[2].model: missing (required)",
            "outgoing_servers[0].port: invalid type",
            "outgoing_servers[0].encryption: unknown variant `tls`",
            "params.\"mail.gateway.loop.minutes\": `soon` is not a positive integer",
            "extra: unknown section",
        ] {
            assert!(
                joined.contains(expected),
                "missing {expected:?} in:\n{joined}"
            );
        }
        assert_eq!(errs.len(), 8, "{joined}");
    }

    fn errors_text(errs: &[String]) -> String {
        errs.join("\n")
    }

    #[test]
    fn duplicates_within_a_section_are_refused() {
        let errs =
            errors("[[alias_domains]]\nname = \"a.test\"\n[[alias_domains]]\nname = \"A.test\"\n");
        assert_eq!(
            errs,
            ["alias_domains[1].name: `a.test` is already defined earlier in alias_domains"]
        );
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let errs = errors("[[aliases]]\nalias_name = \n");
        assert!(errs[0].starts_with("line 2, column"), "{errs:?}");
    }

    #[test]
    fn sections_must_have_the_right_shape() {
        let errs = errors("aliases = 3\n[alias_domains]\nname = \"x.test\"\n");
        assert!(
            errs.iter()
                .any(|e| e.starts_with("aliases: must be an array of tables")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.starts_with("alias_domains: must be an array of tables")),
            "{errs:?}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("25MB"), Some(25 << 20));
        assert_eq!(parse_size("512 kb"), Some(512 << 10));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn server_dns_settings() {
        let f = ConfigFile::parse(
            "[server]\ndns = [\"127.0.0.1:5353\", \"192.0.2.1\"]\ndns_timeout = \"2s\"\n",
        )
        .unwrap();
        let dns = f.server.dns();
        let servers: Vec<String> = dns.servers.iter().map(|s| s.to_string()).collect();
        assert_eq!(servers, ["127.0.0.1:5353", "192.0.2.1:53"]);
        assert_eq!(dns.timeout, std::time::Duration::from_secs(2));
        assert!(
            ConfigFile::parse("")
                .unwrap()
                .server
                .dns()
                .servers
                .is_empty()
        );
        let errors = ConfigFile::parse("[server]\ndns = [\"ns.example\"]\ndns_timeout = \"2h\"\n")
            .unwrap_err();
        let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errors,
            [
                "server.dns[0]: `ns.example` is not a DNS server such as 127.0.0.1:53 or 192.0.2.1",
                "server.dns_timeout: `2h` is not a duration from 1s to 60s",
            ]
        );
    }

    #[test]
    fn server_settings_sizes_modes_and_recipient_check() {
        let f = ConfigFile::parse("[server]\nmax_message_size = 1048576\n").unwrap();
        assert_eq!(f.server.max_message_size.bytes(), 1 << 20);
        let f = ConfigFile::parse("[server]\nmax_message_size = \"10MB\"\n").unwrap();
        assert_eq!(f.server.max_message_size.bytes(), 10 << 20);
        let f = ConfigFile::parse("").unwrap();
        assert_eq!(f.server.max_message_size.bytes(), 25 << 20);
        assert_eq!(f.server.lmtp_socket_mode(), 0o660);
        assert_eq!(
            f.server.recipient_check(),
            postern_gateway::RecipientCheck::Alias
        );
        let f = ConfigFile::parse(
            "[server]\nrecipient_check = \"domain\"\nlmtp_listen = \"unix:/run/p.sock\"\n\
             lmtp_socket_mode = \"0600\"\nlmtp_socket_group = \"postfix\"\n",
        )
        .unwrap();
        assert_eq!(
            f.server.recipient_check(),
            postern_gateway::RecipientCheck::Domain
        );
        assert_eq!(f.server.lmtp_socket_mode(), 0o600);
        let errs: Vec<String> = ConfigFile::parse(
            "[server]\nmax_message_size = true\nrecipient_check = \"mailbox\"\n\
             lmtp_socket_mode = \"0999\"\nlmtp_socket_group = \"postfix\"\n",
        )
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
        for expected in [
            "server.max_message_size: expected a size such as \"25MB\" or a number of bytes (more than 0)",
            "server.recipient_check: `mailbox` is not one of: alias, domain",
            "server.lmtp_socket_mode: `0999` is not a file mode in octal such as 0660",
            "server.lmtp_socket_group: only for a unix socket: set lmtp_listen = \"unix:/path\"",
        ] {
            assert!(errs.iter().any(|e| e == expected), "{expected}: {errs:?}");
        }
    }
}

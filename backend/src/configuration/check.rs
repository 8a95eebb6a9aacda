//! The rules a loaded [`Settings`] tree must follow.

use super::Settings;

/// The first rule broken: the key at fault and what is wrong with it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Invalid {
    pub key: &'static str,
    pub problem: &'static str,
}

impl Settings {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        let rules = [
            (
                "pbxs",
                self.pbxs.keys().all(|name| {
                    name.parse::<crate::domain::PbxName>()
                        .is_ok_and(|name| !name.is_default())
                }),
                "names must be 1 to 32 lowercase ASCII letters or digits, other than \"default\" (the PBX under [ami])",
            ),
            (
                "pbxs",
                self.pbxs.values().all(|ami| {
                    ami.addr != super::DEVELOPMENT_AMI_ADDR
                        && ami.secret != super::DEVELOPMENT_AMI_SECRET
                }),
                "each PBX under [pbxs] needs an addr and a secret of its own (a PBX with neither may come from a mistyped DISCA_PBXS__<NAME>__ variable)",
            ),
            (
                "pbxs",
                {
                    let mut addrs: Vec<&str> = self
                        .all_pbxs()
                        .iter()
                        .map(|(_, a)| a.addr.as_str())
                        .collect();
                    addrs.sort_unstable();
                    addrs.windows(2).all(|pair| pair[0] != pair[1])
                },
                "each PBX needs an addr of its own (two PBXs have the same AMI address)",
            ),
            (
                "ami.directory_url",
                self.ami.directory_url.is_none() || self.phones.directory_db.is_none(),
                "the default PBX has one phone directory: [ami] directory_url or [phones] directory_db, not both",
            ),
            (
                "pbxs",
                self.all_pbxs().iter().all(|(_, ami)| {
                    ami.directory_url.as_deref().is_none_or(|url| {
                        url.starts_with("postgres://") || url.starts_with("postgresql://")
                    })
                }),
                "a PBX's directory_url must be postgres://…",
            ),
            (
                "pbxs",
                self.all_pbxs().iter().all(|(_, ami)| {
                    ami.directory_pbx_role.as_deref().is_none_or(|role| {
                        ami.directory_url.is_some() && crate::phones::directory::is_identifier(role)
                    })
                }),
                "a PBX's directory_pbx_role needs its directory_url, and must be lowercase letters, digits and _ (a PostgreSQL role)",
            ),
            (
                "pbxs",
                self.pbxs.values().all(|ami| {
                    ami.directory_url.is_none()
                        || (ami.ws_url.is_some() && ami.sip_domain.is_some())
                }),
                "a PBX with a directory_url needs its ws_url and sip_domain: its phones reach it, not the default PBX",
            ),
            (
                "pbxs",
                self.all_pbxs().iter().all(|(_, ami)| {
                    ami.ws_url.as_deref().is_none_or(is_websocket_url)
                        && ami.sip_domain.as_deref().is_none_or(is_sip_domain)
                }),
                "a PBX's ws_url must be a ws:// or wss:// URL, and its sip_domain a host name or address",
            ),
            (
                "crm.public_url",
                self.crm.public_url.as_deref().is_none_or(is_public_url),
                "must be an http(s) address without query or fragment",
            ),
            (
                "crm.request_timeout_secs",
                !self.crm.request_timeout.is_zero(),
                "must be positive",
            ),
            (
                "crm.retry_base_ms",
                !self.crm.retry_base.is_zero(),
                "must be positive",
            ),
            (
                "crm.retry_max_secs",
                self.crm.retry_max >= self.crm.retry_base,
                "must be at least crm.retry_base_ms",
            ),
            (
                "crm.requests_per_minute",
                self.crm.requests_per_window > 0,
                "must be positive",
            ),
            (
                "crm.rate_window_secs",
                !self.crm.rate_window.is_zero(),
                "must be positive",
            ),
            (
                "crm.concurrency",
                self.crm.concurrency > 0,
                "must be positive",
            ),
            (
                "crm.poll_interval_ms",
                !self.crm.poll_interval.is_zero(),
                "must be positive",
            ),
            (
                "http.metrics_token_sha256",
                self.http.metrics_token_sha256.as_deref().is_none_or(|h| {
                    h.len() == 64
                        && h.bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                }),
                "must be 64 lowercase hexadecimal characters (sha256sum of the token)",
            ),
            (
                "crm.report_wait_secs",
                self.crm.report_wait <= std::time::Duration::from_secs(3600),
                "must be at most 3600 (a note should not wait longer than an hour)",
            ),
            (
                "http.max_connections",
                self.http.max_connections != Some(0),
                "must be positive",
            ),
            (
                "http.reserve_connections",
                self.http.reserve_connections > 0,
                "must be positive",
            ),
            (
                "http.header_read_timeout_ms",
                !self.http.header_read_timeout.is_zero(),
                "must be positive",
            ),
            (
                "http.write_timeout_ms",
                !self.http.write_timeout.is_zero(),
                "must be positive",
            ),
            (
                "http.request_timeout_secs",
                !self.http.request_timeout.is_zero(),
                "must be positive",
            ),
            (
                "http.sse_streams_per_user",
                self.http.sse_streams_per_user > 0,
                "must be positive",
            ),
            (
                "http.sse_streams_per_tenant",
                self.http.sse_streams_per_tenant >= self.http.sse_streams_per_user,
                "must be at least http.sse_streams_per_user",
            ),
            (
                "http.sse_keep_alive_ms",
                !self.http.sse_keep_alive.is_zero(),
                "must be positive",
            ),
            (
                "calls.agent_ring_timeout_secs",
                !self.calls.agent_ring_timeout.is_zero(),
                "must be at least one second",
            ),
            (
                "calls.reconcile_interval_secs",
                !self.calls.reconcile_interval.is_zero(),
                "must be at least one second",
            ),
            (
                "calls.agent_channel",
                is_channel_template(&self.calls.agent_channel),
                "must contain {endpoint} once and only printable ASCII without spaces",
            ),
            (
                "calls.calls_per_minute",
                self.calls.calls_per_minute > 0,
                "must be at least 1",
            ),
            (
                "phones.ws_url",
                is_websocket_url(&self.phones.ws_url),
                "must be a ws:// or wss:// URL",
            ),
            (
                "phones.sip_domain",
                is_sip_domain(&self.phones.sip_domain),
                "must be a host name or address",
            ),
            (
                "phones.stun_urls",
                self.phones
                    .stun_urls
                    .iter()
                    .all(|u| is_ice_url(u, &["stun:", "stuns:"])),
                "each must be a stun: or stuns: URL",
            ),
            (
                "phones.turn_urls",
                self.phones
                    .turn_urls
                    .iter()
                    .all(|u| is_ice_url(u, &["turn:", "turns:"])),
                "each must be a turn: or turns: URL",
            ),
            (
                "phones.turn_secret",
                self.phones.turn_urls.is_empty() || self.phones.turn_secret.is_some(),
                "is required when phones.turn_urls is set",
            ),
            (
                "mail.from",
                self.mail.from.parse::<lettre::message::Mailbox>().is_ok(),
                "must be an address, e.g. Disca <disca@empresa.com.br>",
            ),
            (
                "mail.timeout_secs",
                !self.mail.timeout.is_zero(),
                "must be positive",
            ),
            (
                "phones.turn_credential_ttl_secs",
                !self.phones.turn_credential_ttl.is_zero(),
                "must be positive",
            ),
        ];
        match rules.into_iter().find(|(_, ok, _)| !ok) {
            Some((key, _, problem)) => Err(Invalid { key, problem }),
            None => Ok(()),
        }
    }
}

fn is_public_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.query().is_none() && u.fragment().is_none()
    })
}

/// `{endpoint}` once, and nothing that could end the AMI header it goes in.
fn is_websocket_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "ws" | "wss") && u.host_str().is_some())
}

fn is_sip_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

fn is_ice_url(url: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|s| url.starts_with(s))
        && url.len() <= 256
        && url.bytes().all(|b| b.is_ascii_graphic())
}

fn is_channel_template(channel: &str) -> bool {
    channel.matches("{endpoint}").count() == 1 && channel.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_follow_the_rules() {
        assert_eq!(Settings::default().check(), Ok(()));
    }

    #[test]
    fn the_agent_channel_is_a_checked_template() {
        assert!(is_channel_template("Local/{endpoint}@agents"));
        assert!(!is_channel_template("PJSIP/1001"));
        assert!(!is_channel_template("PJSIP/{endpoint}\r\nAction: Command"));
        assert!(!is_channel_template(
            "PJSIP/{endpoint}&PJSIP/{endpoint}-desk"
        ));
    }

    #[test]
    fn each_rule_names_its_key() {
        let mut settings = Settings::default();
        settings.http.sse_streams_per_user = 600;
        assert_eq!(
            settings.check().unwrap_err().key,
            "http.sse_streams_per_tenant"
        );
        let mut settings = Settings::default();
        settings.crm.public_url = Some("https://disca.example.com/?x=1".into());
        assert_eq!(settings.check().unwrap_err().key, "crm.public_url");
    }
}

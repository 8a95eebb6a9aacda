//! What RD Station's addresses say: the deal a page or a link is about, the
//! contact a link points to. RD Station publishes no facts on its page
//! markup, so the content script reads addresses (stable, documented) and
//! never depends on one exact markup.
//!
//! Deal pages: `/app/deals/<24-hex id>` (optionally `?view=…`), and the
//! older hash routes `crm.rdstation.com/app/#/deals/<id>` and
//! `plugcrm.net/app#/deals/<id>`. The pipeline (`/app/deals/pipeline`) is not
//! a deal. Contacts are linked the same way: `/app/contacts/<id>`.

/// Longest page address sent with a call (the backend refuses longer).
const MAX_URL_LEN: usize = 2048;
/// Longest contact name sent with a call, in characters.
const MAX_NAME_CHARS: usize = 200;

/// The deal id in a page address or link (`…/deals/<24-hex>`).
pub fn deal_id(address: &str) -> Option<&str> {
    record_id(address, "/deals/")
}

/// The contact id in a link (`…/contacts/<24-hex>`).
pub fn contact_id(address: &str) -> Option<&str> {
    record_id(address, "/contacts/")
}

/// The 24 lowercase hex characters right after `segment`, ending the path
/// or followed by `/`, `?` or `#`. Looks in the path and in a hash route.
fn record_id<'a>(address: &'a str, segment: &str) -> Option<&'a str> {
    address.match_indices(segment).find_map(|(at, _)| {
        let rest = &address[at + segment.len()..];
        let id = rest.get(..24)?;
        let ends = rest[24..]
            .chars()
            .next()
            .is_none_or(|c| matches!(c, '/' | '?' | '#'));
        (ends && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(id)
    })
}

/// A contact's name as shown on the page, made fit to send: white space
/// collapsed, control characters dropped, at most 200 characters; `None`
/// when nothing is left.
pub fn contact_name(shown: &str) -> Option<String> {
    let name = shown
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let name: String = name.chars().take(MAX_NAME_CHARS).collect();
    let name = name.trim_end().to_owned();
    (!name.is_empty()).then_some(name)
}

/// The page address sent with a call, without its query string (which may
/// carry tokens; the path and a hash route say which record it is), when it
/// is one the backend accepts.
pub fn page_url(href: &str) -> Option<String> {
    let web = href.starts_with("https://") || href.starts_with("http://");
    let (before_hash, hash) = href
        .split_once('#')
        .map_or((href, None), |(b, h)| (b, Some(h)));
    let path = before_hash.split('?').next().unwrap_or(before_hash);
    let url = match hash {
        Some(hash) => [path, "#", hash].concat(),
        None => path.to_owned(),
    };
    (web && url.len() <= MAX_URL_LEN && !url.chars().any(char::is_control)).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5f1e7a9b2c3d4e5f6a7b8c9d";

    #[test]
    fn deal_ids_come_from_paths_and_hash_routes() {
        for address in [
            format!("https://crm.rdstation.com/app/deals/{ID}"),
            format!("https://crm.rdstation.com/app/deals/{ID}?view=pipeline"),
            format!("https://crm.rdstation.com/app/deals/{ID}/edit"),
            format!("https://crm.rdstation.com/app/#/deals/{ID}"),
            format!("https://plugcrm.net/app#/deals/{ID}"),
            format!("/app/deals/{ID}"),
        ] {
            assert_eq!(deal_id(&address), Some(ID), "{address}");
        }
    }

    #[test]
    fn not_every_deals_address_names_a_deal() {
        for address in [
            "https://crm.rdstation.com/app/deals/pipeline".to_owned(),
            "https://crm.rdstation.com/app/deals/5F1E7A9B2C3D4E5F6A7B8C9D".to_owned(),
            format!("https://crm.rdstation.com/app/deals/{ID}0"),
            "https://crm.rdstation.com/app/deals/5f1e7a9b".to_owned(),
            format!("https://crm.rdstation.com/app/contacts/{ID}"),
        ] {
            assert_eq!(deal_id(&address), None, "{address}");
        }
        assert_eq!(contact_id(&format!("/app/contacts/{ID}")), Some(ID));
    }

    #[test]
    fn names_are_cleaned_and_capped() {
        assert_eq!(
            contact_name("  Maria\n  da\tSilva "),
            Some("Maria da Silva".into())
        );
        assert_eq!(contact_name("Ana\u{0}\u{1b}[31m"), Some("Ana [31m".into()));
        assert_eq!(contact_name(" \n "), None);
        assert_eq!(contact_name(&"é".repeat(500)).unwrap().chars().count(), 200);
    }

    #[test]
    fn only_web_addresses_are_sent() {
        assert_eq!(
            page_url("https://crm.rdstation.com/app/deals/x?token=secret#notes").as_deref(),
            Some("https://crm.rdstation.com/app/deals/x#notes")
        );
        assert_eq!(
            page_url("https://plugcrm.net/app?x=1#/deals/5f1e").as_deref(),
            Some("https://plugcrm.net/app#/deals/5f1e")
        );
        assert!(page_url("javascript:alert(1)").is_none());
        assert!(page_url(&format!("https://a.b/{}", "x".repeat(2048))).is_none());
    }
}

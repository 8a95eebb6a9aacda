//! OAuth2 as RD Station runs it for API v2: authorization codes (5 minutes,
//! single use, bound to their client and redirect URI), access tokens
//! (2 hours) and refresh tokens that rotate on EVERY refresh: the answer
//! carries a new one and the old one is dead at once; an unused one dies
//! after 14 days. Access tokens issued before a refresh stay valid until
//! they expire.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::clock::deadline;
use crate::crm::Crm;
use crate::ids::new_secret;
use crate::seed::OAuthClient;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    pub access: Duration,
    pub refresh: Duration,
    pub code: Duration,
}

/// Why an authorization code cannot be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    #[error("unknown client_id")]
    UnknownClient,
    #[error("redirect_uri is not registered for this client")]
    RedirectUri,
    #[error("unknown or deactivated user")]
    User,
}

/// The token endpoint's errors (RFC 6749 section 5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenError {
    InvalidRequest(String),
    InvalidClient,
    InvalidGrant(&'static str),
    UnsupportedGrantType,
}

pub(crate) struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

pub(crate) enum AccessCheck {
    Valid { user_id: String },
    Expired,
    Unknown,
}

struct Grant {
    client_id: String,
    user_id: String,
    expires: Instant,
}

#[derive(Default)]
struct Grants {
    /// Code → grant and the redirect URI it was issued for.
    codes: HashMap<String, (Grant, String)>,
    access: HashMap<String, Grant>,
    refresh: HashMap<String, Grant>,
}

pub(crate) struct OAuth {
    clients: Vec<OAuthClient>,
    lifetimes: Lifetimes,
    grants: Mutex<Grants>,
}

impl OAuth {
    pub fn new(clients: Vec<OAuthClient>, lifetimes: Lifetimes) -> OAuth {
        OAuth {
            clients,
            lifetimes,
            grants: Mutex::default(),
        }
    }

    pub fn client(&self, client_id: &str) -> Option<&OAuthClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// Checks a request to `/oauth2/authorize` up to the user's choice.
    pub fn check_client(&self, client_id: &str, redirect_uri: &str) -> Result<(), AuthorizeError> {
        let client = self
            .client(client_id)
            .ok_or(AuthorizeError::UnknownClient)?;
        let allowed = if client.redirect_uris.is_empty() {
            redirect_uri.starts_with("http://") || redirect_uri.starts_with("https://")
        } else {
            client.redirect_uris.iter().any(|u| u == redirect_uri)
        };
        // Visible ASCII only: it goes back out in a Location header.
        if allowed && redirect_uri.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(())
        } else {
            Err(AuthorizeError::RedirectUri)
        }
    }

    /// What the user's consent produces: a code for `client_id`.
    pub fn authorize(
        &self,
        crm: &Crm,
        client_id: &str,
        redirect_uri: &str,
        user_id: &str,
    ) -> Result<String, AuthorizeError> {
        self.check_client(client_id, redirect_uri)?;
        let user = crm
            .user_by_id(user_id)
            .map(|r| crm.user(r))
            .filter(|u| u.active)
            .ok_or(AuthorizeError::User)?;
        let code = new_secret();
        let grant = Grant {
            client_id: client_id.to_owned(),
            user_id: user.id.clone(),
            expires: deadline(Instant::now(), self.lifetimes.code),
        };
        self.lock()
            .codes
            .insert(code.clone(), (grant, redirect_uri.to_owned()));
        Ok(code)
    }

    /// `grant_type=authorization_code`.
    pub fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &str,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenPair, TokenError> {
        self.authenticate(client_id, client_secret)?;
        let mut grants = self.lock();
        // A code is single use, even when the exchange fails.
        let (grant, issued_for) = grants.codes.remove(code).ok_or(TokenError::InvalidGrant(
            "unknown or already used authorization code",
        ))?;
        if grant.expires <= Instant::now() {
            return Err(TokenError::InvalidGrant(
                "the authorization code has expired",
            ));
        }
        if grant.client_id != client_id {
            return Err(TokenError::InvalidGrant(
                "the authorization code belongs to another client",
            ));
        }
        if issued_for != redirect_uri {
            return Err(TokenError::InvalidGrant(
                "redirect_uri does not match the authorization request",
            ));
        }
        Ok(self.issue(&mut grants, grant.client_id, grant.user_id))
    }

    /// `grant_type=refresh_token`: a new pair; the presented refresh token dies.
    pub fn refresh(
        &self,
        client_id: &str,
        client_secret: &str,
        refresh_token: &str,
    ) -> Result<TokenPair, TokenError> {
        self.authenticate(client_id, client_secret)?;
        let mut grants = self.lock();
        let grant = grants
            .refresh
            .remove(refresh_token)
            .ok_or(TokenError::InvalidGrant(
                "unknown, revoked or already used refresh token",
            ))?;
        if grant.client_id != client_id {
            grants.refresh.insert(refresh_token.to_owned(), grant);
            return Err(TokenError::InvalidGrant(
                "the refresh token belongs to another client",
            ));
        }
        if grant.expires <= Instant::now() {
            return Err(TokenError::InvalidGrant("the refresh token has expired"));
        }
        Ok(self.issue(&mut grants, grant.client_id, grant.user_id))
    }

    pub fn check_access(&self, token: &str) -> AccessCheck {
        match self.lock().access.get(token) {
            Some(grant) if grant.expires > Instant::now() => AccessCheck::Valid {
                user_id: grant.user_id.clone(),
            },
            Some(_) => AccessCheck::Expired,
            None => AccessCheck::Unknown,
        }
    }

    fn authenticate(&self, client_id: &str, client_secret: &str) -> Result<(), TokenError> {
        match self.client(client_id) {
            Some(client) if client.client_secret == client_secret => Ok(()),
            _ => Err(TokenError::InvalidClient),
        }
    }

    fn issue(&self, grants: &mut Grants, client_id: String, user_id: String) -> TokenPair {
        let now = Instant::now();
        // Forget what is long dead; expired access tokens are remembered for
        // one more lifetime, to answer "expired" rather than "unknown".
        let access_lifetime = self.lifetimes.access;
        grants.codes.retain(|_, (g, _)| g.expires > now);
        grants.refresh.retain(|_, g| g.expires > now);
        grants
            .access
            .retain(|_, g| deadline(g.expires, access_lifetime) > now);
        let pair = TokenPair {
            access_token: new_secret(),
            refresh_token: new_secret(),
            expires_in: self.lifetimes.access.as_secs(),
        };
        grants.access.insert(
            pair.access_token.clone(),
            Grant {
                client_id: client_id.clone(),
                user_id: user_id.clone(),
                expires: deadline(now, self.lifetimes.access),
            },
        );
        grants.refresh.insert(
            pair.refresh_token.clone(),
            Grant {
                client_id,
                user_id,
                expires: deadline(now, self.lifetimes.refresh),
            },
        );
        pair
    }

    fn lock(&self) -> MutexGuard<'_, Grants> {
        self.grants.lock().unwrap_or_else(|e| e.into_inner())
    }
}

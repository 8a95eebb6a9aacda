//! The stand-in over real HTTP (reqwest against a started server on a free
//! loopback port), with the demo seed: what each API answers, its errors,
//! OAuth2 token rotation, the rate limit, and every fault mode.

mod faults;
mod limits;
mod oauth;
mod v1;
mod v2;

use std::time::Duration;

use rdstation_standin::{Config, Running, StandIn};
use reqwest::{Response, StatusCode};
use serde_json::Value;

/// Demo users (see `Seed::demo`).
pub const ANA_ID: &str = "64b7f0c2a1e4d30000000a01";
pub const ANA_TOKEN: &str = "a3f9c2e17b4d48e6a0c5d2f1";
pub const BRUNO_ID: &str = "64b7f0c2a1e4d30000000a02";
pub const BRUNO_TOKEN: &str = "b7e2d4c19a3f45b8e1c6a0d3";
/// Deactivated.
pub const CARLA_ID: &str = "64b7f0c2a1e4d30000000a03";
pub const CARLA_TOKEN: &str = "c4a1f8e26d3b47c9b2e5f0a7";
/// Another company.
pub const EDUARDO_ID: &str = "64b7f0c2a1e4d30000000a11";
pub const EDUARDO_TOKEN: &str = "e5d3b1a97c2f46e8d0b4a6c2";
/// A company whose plan has no API access.
pub const FERNANDA_ID: &str = "64b7f0c2a1e4d30000000a21";
pub const FERNANDA_TOKEN: &str = "f2c8e4a06b1d43f7a9e3c5b1";

/// Ana's open deal with Mariana Costa (+5511971730783).
pub const ANA_DEAL: &str = "64b7f0c2a1e4d30000000d01";
/// Bruno's open deal with Rafael Lima.
pub const BRUNO_DEAL: &str = "64b7f0c2a1e4d30000000d02";
pub const MARIANA: &str = "64b7f0c2a1e4d30000000c01";

pub const CLIENT_ID: &str = "disca-local";
pub const CLIENT_SECRET: &str = "disca-local-secret";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8080/rdstation/callback";

pub struct Harness {
    pub standin: Running,
    pub http: reqwest::Client,
}

pub async fn start() -> Harness {
    start_with(Config::default()).await
}

pub async fn start_with(config: Config) -> Harness {
    let standin = StandIn::start(config).await.expect("the stand-in starts");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Harness { standin, http }
}

/// OAuth2 tokens of one user.
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Harness {
    /// A v1 URL with `?token=` (and more query after `&` if `path` has `?`).
    pub fn v1(&self, path: &str, token: &str) -> String {
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{separator}token={token}", self.standin.v1_base())
    }

    pub fn v2(&self, path: &str) -> String {
        format!("{}{path}", self.standin.v2_base())
    }

    pub fn admin(&self, path: &str) -> String {
        format!("{}/_standin{path}", self.standin.base_url())
    }

    /// Tokens for `user_id` through the authorization-code grant.
    pub async fn tokens_for(&self, user_id: &str) -> Tokens {
        let code = self
            .standin
            .authorization_code(CLIENT_ID, user_id, REDIRECT_URI)
            .unwrap();
        let response = self
            .token_request(&[
                ("grant_type", "authorization_code"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
            ])
            .await;
        let body = json_of(response, StatusCode::OK).await;
        Tokens {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn token_request(&self, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.standin.oauth_token_url())
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Writes a note through v2 and returns the answer.
    pub async fn v2_note(&self, access: &str, deal_id: &str, description: &str) -> Response {
        self.http
            .post(self.v2(&format!("/deals/{deal_id}/notes")))
            .bearer_auth(access)
            .json(&serde_json::json!({"data": {"description": description}}))
            .send()
            .await
            .unwrap()
    }

    /// Writes a note through v1 (as Ana) and returns the answer.
    pub async fn v1_note(&self, deal_id: &str, text: &str) -> Response {
        self.http
            .post(self.v1("/activities", ANA_TOKEN))
            .json(&serde_json::json!({"activity": {"deal_id": deal_id, "user_id": ANA_ID, "text": text}}))
            .send()
            .await
            .unwrap()
    }
}

/// The JSON body, after checking the status.
pub async fn json_of(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

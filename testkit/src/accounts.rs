//! People with passwords, made the way a person gets one: an invitation
//! link, used on the backend's page API.

use disca_backend::accounts::{Accounts, links};
use disca_backend::domain::User;
use disca_backend::storage::{LinkPurpose, Store};
use serde_json::json;

/// Gives `user` the password `password` through an invitation link of the
/// backend at `base` (whose store is `store`).
pub async fn give_password(base: &str, store: &Store, user: &User, password: &str) {
    let issued = links::issue(&Accounts::new(base, None), store, user, LinkPurpose::Invite)
        .await
        .expect("an invitation");
    let (_, secret) = issued.url.split_once('#').expect("a link with its secret");
    let response = reqwest::Client::new()
        .post(format!("{base}/account/api/password"))
        .header("x-disca-page", "1")
        .json(&json!({"token": secret, "password": password}))
        .send()
        .await
        .expect("the backend answers");
    assert!(
        response.status().is_success(),
        "setting {}'s password: {}",
        user.email,
        response.text().await.unwrap_or_default()
    );
}

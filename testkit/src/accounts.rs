//! People with passwords, made the way a person gets one: an invitation
//! link, used on the backend's page API; and people added as the admin
//! console adds them ([`Someone`]).

use disca_backend::accounts::{Accounts, links};
use disca_backend::auth::issue_token;
use disca_backend::domain::{PhoneKind, Role, User};
use disca_backend::storage::{Actor, LinkPurpose, NewPerson, NewUser, Store};
use serde_json::json;

/// A person a test adds with `Store::add_people` (the console's and the
/// CLI's way; the CLI as the actor, no audit row), with an API token.
pub struct Someone<'a> {
    pub tenant: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub extension: &'a str,
    pub role: Role,
    pub phone: PhoneKind,
    pub admin: bool,
}

impl Someone<'_> {
    /// Adds them; returns the user and their API token.
    pub async fn add(self, store: &Store) -> (User, String) {
        let token = issue_token();
        (self.insert(store, Some(&token.hash)).await, token.secret)
    }

    /// Adds them without a token: invited, waiting to choose a password.
    pub async fn add_invited(self, store: &Store) -> User {
        self.insert(store, None).await
    }

    async fn insert(self, store: &Store, token_hash: Option<&str>) -> User {
        store
            .add_people(
                &[NewPerson {
                    user: NewUser {
                        tenant: self.tenant,
                        name: self.name,
                        email: self.email,
                        extension: &self.extension.parse().expect("an extension"),
                        role: self.role,
                        phone: self.phone,
                        token_hash,
                    },
                    admin: self.admin,
                    crm_user_id: None,
                }],
                &Actor::cli(),
                &[],
            )
            .await
            .expect("the person is added")
            .remove(0)
    }
}

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

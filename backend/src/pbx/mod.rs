//! The PBX side, for each Asterisk server ([`Pbxs`]): placing calls with AMI `Originate`, hanging them up, and
//! following them (the [`tracker`]) until they end; and [`dialing`], what a
//! console-configured tenant's calls use on the PBX, written where
//! Asterisk reads it, with its carrier's [`registrations`].

pub mod dialing;
pub mod leadership;
mod progress;
pub mod reachability;
pub mod registrations;
pub mod tenant_move;
mod tracker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use disca_ami::{AmiError, Client, Originate};
use disca_protocol::phone::{CALL_ID_HEADER, PhoneKind};
use tokio::sync::{mpsc, oneshot};

use crate::configuration::{AmiSettings, CallSettings, Settings};
use crate::domain::{Call, PbxName};
use crate::phones::{Directory, PbxPhones, removals};
use crate::storage::{Backend, Store};
use crate::telemetry::Metrics;
use tracker::{Command, Tracker};

/// Why a call could not be handed to Asterisk.
#[derive(Debug, thiserror::Error)]
pub enum PbxError {
    #[error("the PBX is unreachable: {0}")]
    Unreachable(AmiError),
    #[error("the PBX refused the call: {0}")]
    Refused(AmiError),
    /// The Originate was sent but never acknowledged, and the link died
    /// (or stopped answering): the call is followed until a channel listing
    /// after the reconnection says whether it reached the PBX.
    #[error("the PBX link died before the call was acknowledged: {0}")]
    Unconfirmed(AmiError),
}

/// Every PBX this backend places calls through, by name; cheap to clone.
#[derive(Clone)]
pub struct Pbxs {
    by_name: Arc<BTreeMap<PbxName, Pbx>>,
}

impl Pbxs {
    /// Connects to each PBX of `settings` ([`Pbx::start`]), each with its
    /// phone directory in `directories` if it has one.
    pub fn start(
        settings: &Settings,
        store: &Store,
        metrics: &Metrics,
        directories: &BTreeMap<PbxName, PbxPhones>,
    ) -> Pbxs {
        let by_name = settings
            .all_pbxs()
            .into_iter()
            .map(|(name, ami)| {
                let directory = directories.get(&name).map(|p| p.directory.clone());
                let pbx = Pbx::start(
                    name.clone(),
                    ami,
                    &settings.calls,
                    store.clone(),
                    metrics.clone(),
                    directory,
                );
                (name, pbx)
            })
            .collect();
        Pbxs {
            by_name: Arc::new(by_name),
        }
    }

    /// The PBX `name`; `None` when it is not configured here.
    pub fn get(&self, name: &PbxName) -> Option<&Pbx> {
        self.by_name.get(name)
    }

    /// The PBX under `[ami]`, where the phone directory's phones are.
    pub fn default_pbx(&self) -> &Pbx {
        self.by_name
            .get(&PbxName::default())
            .expect("the default PBX is always started")
    }

    /// Every PBX, by name.
    pub fn all(&self) -> impl Iterator<Item = (&PbxName, &Pbx)> {
        self.by_name.iter()
    }
}

/// Handle to one PBX's connection and its call tracker; cheap to clone.
#[derive(Clone)]
pub struct Pbx {
    name: PbxName,
    client: Client,
    metrics: Metrics,
    commands: mpsc::UnboundedSender<Command>,
    agent_ring_timeout: Duration,
    agent_channel: String,
}

impl Pbx {
    /// Connects to AMI (retrying in the background) and starts the tracker.
    /// With a phone `directory` whose driver cannot delete, registrations
    /// Asterisk removes are deleted from it too ([`removals`]).
    pub fn start(
        name: PbxName,
        ami: &AmiSettings,
        calls: &CallSettings,
        store: Store,
        metrics: Metrics,
        directory: Option<Directory>,
    ) -> Pbx {
        let directory = directory.filter(Directory::completes_deletes);
        let mut config = ami.client_config();
        let mut wanted: Vec<String> = tracker::EVENTS.iter().map(|e| (*e).to_owned()).collect();
        if directory.is_some() {
            wanted.push(removals::EVENT.to_owned());
        }
        config.events = Some(wanted);
        let (client, events) = Client::start(config);
        let events = tracker::stamped(match directory {
            Some(directory) => removals::follow(events, directory),
            None => events,
        });
        let (commands, mut commands_rx) = mpsc::unbounded_channel();
        // Each PBX's series exist from the start, before its first event.
        metrics.set_ami_connected(&name, false);
        metrics.set_live_calls(&name, 0);
        metrics.set_pbx_following(&name, false);
        match store.backend() {
            // One backend per database: it follows every call.
            Backend::Sqlite => {
                metrics.set_pbx_following(&name, true);
                let tracker = Tracker::new(
                    name.clone(),
                    store,
                    client.clone(),
                    metrics.clone(),
                    commands.clone(),
                );
                let every = calls.reconcile_interval;
                let mut events = events;
                tokio::spawn(async move {
                    tracker.run(&mut events, &mut commands_rx, every).await;
                });
            }
            Backend::Postgres => {
                let parts = leadership::Parts {
                    pbx: name.clone(),
                    store,
                    client: client.clone(),
                    metrics: metrics.clone(),
                    commands: commands.clone(),
                    reconcile_every: calls.reconcile_interval,
                };
                tokio::spawn(leadership::run(parts, events, commands_rx));
            }
        }
        Pbx {
            name,
            client,
            metrics,
            commands,
            agent_ring_timeout: calls.agent_ring_timeout,
            agent_channel: calls.agent_channel.clone(),
        }
    }

    /// Tells Asterisk what writing the registration of `trunk` did
    /// ([`registrations::apply`]).
    pub async fn apply_registration(
        &self,
        trunk: &str,
        change: crate::phones::directory::RegistrationChange,
    ) -> Result<(), AmiError> {
        registrations::apply(&self.client, trunk, change).await
    }

    /// Stops `trunk`'s registration if Asterisk still runs it.
    pub async fn stop_registration_if_running(&self, trunk: &str) -> Result<(), AmiError> {
        registrations::stop_if_running(&self.client, trunk).await
    }

    /// Applies the directory's registrations and stops the `stale` ones.
    pub async fn reconcile_registrations(&self, stale: &[String]) -> Result<(), AmiError> {
        registrations::reconcile(&self.client, stale).await
    }

    /// The status of `trunk`'s registration at Asterisk.
    pub async fn registration_status(&self, trunk: &str) -> Result<Option<String>, AmiError> {
        registrations::status(&self.client, trunk).await
    }

    /// Its name: `default`, or its key under `[pbxs]`.
    pub fn name(&self) -> &PbxName {
        &self.name
    }

    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    /// Whether the agent's phone certainly cannot ring ([`reachability`]);
    /// never for an agent channel that is not PJSIP.
    pub async fn phone_offline(&self, endpoint: &str) -> bool {
        self.agent_channel.starts_with("PJSIP/{endpoint}")
            && reachability::offline(&self.client, endpoint).await
    }

    /// Rings the agent, then (in the dialplan) the lead. An error means the
    /// call was certainly not placed: it has already been ended as `failed`,
    /// and the returned call is its final record. Logs in the caller's call
    /// span (`POST /v1/calls`); at `ERROR` level, like it, so that it exists
    /// whenever a line inside is logged.
    #[tracing::instrument(name = "originate", level = "error", skip_all)]
    pub async fn place(
        &self,
        call: &Call,
        context: &str,
        phone: PhoneKind,
    ) -> Result<(), (PbxError, Option<Call>)> {
        let mut variables = vec![("DISCA_CALL_ID".to_owned(), call.id.clone())];
        if phone == PhoneKind::Browser {
            // On the INVITE to the browser: its softphone answers by itself
            // only a call it asked for.
            variables.push((
                format!("PJSIP_HEADER(add,{CALL_ID_HEADER})"),
                call.id.clone(),
            ));
        }
        let _ = self.commands.send(Command::Track(Box::new(call.clone())));
        let originate = Originate {
            channel: self
                .agent_channel
                .replace("{endpoint}", &call.agent_endpoint),
            context: context.to_owned(),
            exten: call.to.clone(),
            priority: 1,
            timeout: self.agent_ring_timeout,
            caller_id: Some(format!("Disca <{}>", call.to)),
            channel_id: call.id.clone(),
            other_channel_id: None,
            variables,
        };
        let sent = std::time::Instant::now();
        let error = match self.client.originate(&originate).await {
            Ok(()) => {
                self.metrics
                    .originate_acknowledged(&self.name, sent.elapsed().as_secs_f64());
                return Ok(());
            }
            // Not acknowledged. If the link still answers a Ping, Asterisk
            // has read the Originate (actions are handled in order) and was
            // only slow: the call is followed. Otherwise the link died or
            // stalled with the call's fate unknown: the click is told so at
            // once, and the first channel listing after the reconnection
            // ends the call as not placed unless a channel of it exists.
            Err(e @ (AmiError::Timeout | AmiError::Disconnected)) => {
                if matches!(e, AmiError::Timeout) && self.client.ping().await.is_ok() {
                    tracing::warn!("Originate acknowledged late; following the call");
                    return Ok(());
                }
                tracing::warn!(error = %e, "AMI link lost before the Originate was acknowledged");
                let (reply, unconfirmed) = oneshot::channel();
                let _ = self.commands.send(Command::OriginateUnconfirmed {
                    call_id: call.id.clone(),
                    reply,
                });
                if unconfirmed.await == Ok(false) {
                    // Events of the call came meanwhile: it was placed.
                    return Ok(());
                }
                return Err((PbxError::Unconfirmed(e), None));
            }
            Err(e @ (AmiError::Rejected { .. } | AmiError::InvalidValue(_))) => {
                PbxError::Refused(e)
            }
            Err(other) => PbxError::Unreachable(other),
        };
        let (reply, wait) = oneshot::channel();
        let _ = self.commands.send(Command::OriginateFailed {
            call_id: call.id.clone(),
            reply,
        });
        Err((error, wait.await.ok().flatten()))
    }

    /// Asks Asterisk to hang the call up. Returns the call as the tracker knew
    /// it, or `None` when it is not live.
    pub async fn hangup(&self, call_id: &str) -> Option<Call> {
        let (reply, wait) = oneshot::channel();
        let _ = self.commands.send(Command::Hangup {
            call_id: call_id.to_owned(),
            reply,
        });
        wait.await.ok().flatten()
    }
}

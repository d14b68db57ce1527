//! One consumer group's membership, as a pure state machine (Kafka's classic
//! protocol): Empty → PreparingRebalance → CompletingRebalance → Stable, and Dead
//! once deleted. No I/O, no clock: every call takes `now_ms`, and requests that
//! must wait (JoinGroup until the rebalance completes, SyncGroup until the leader
//! has sent the assignment) are answered later through the [`Completion`]s that
//! calls return.

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The names Kafka's tools print and ListGroups filters on.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Errors the state machine answers with; mapped to Kafka codes in one place
/// (`GroupError::response_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupError {
    UnknownMemberId,
    IllegalGeneration,
    RebalanceInProgress,
    FencedInstanceId,
    InconsistentGroupProtocol,
    GroupMaxSizeReached,
    InvalidSessionTimeout,
    MemberIdRequired,
    CoordinatorNotAvailable,
    NonEmptyGroup,
    /// In a cluster: another node leads the group's offsets partition.
    NotCoordinator,
    /// In a cluster: this node leads it but is still reading it.
    CoordinatorLoadInProgress,
}

impl GroupError {
    pub fn response_error(self) -> kafka_protocol::error::ResponseError {
        use kafka_protocol::error::ResponseError as R;
        match self {
            GroupError::UnknownMemberId => R::UnknownMemberId,
            GroupError::IllegalGeneration => R::IllegalGeneration,
            GroupError::RebalanceInProgress => R::RebalanceInProgress,
            GroupError::FencedInstanceId => R::FencedInstanceId,
            GroupError::InconsistentGroupProtocol => R::InconsistentGroupProtocol,
            GroupError::GroupMaxSizeReached => R::GroupMaxSizeReached,
            GroupError::InvalidSessionTimeout => R::InvalidSessionTimeout,
            GroupError::MemberIdRequired => R::MemberIdRequired,
            GroupError::CoordinatorNotAvailable => R::CoordinatorNotAvailable,
            GroupError::NonEmptyGroup => R::NonEmptyGroup,
            GroupError::NotCoordinator => R::NotCoordinator,
            GroupError::CoordinatorLoadInProgress => R::CoordinatorLoadInProgress,
        }
    }

    pub fn code(self) -> i16 {
        self.response_error().code()
    }
}

/// Limits and timing from the broker config (`group.*`).
#[derive(Debug, Clone, Copy)]
pub struct GroupSettings {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: i64,
    pub max_size: usize,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat_ms: i64,
    /// Its JoinGroup is parked until the rebalance completes.
    pub awaiting_join: bool,
    /// Its SyncGroup is parked until the leader's assignment arrives.
    pub awaiting_sync: bool,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    fn same_protocols(&self, other: &[(String, Bytes)]) -> bool {
        self.protocols == other
    }
}

/// What a JoinGroup gets back (now or when the rebalance completes).
#[derive(Debug, Clone, PartialEq)]
pub struct JoinResult {
    pub error: Option<GroupError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only the leader gets the members, with their metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(member_id: &str, e: GroupError) -> JoinResult {
        JoinResult {
            error: Some(e),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: vec![],
        }
    }
}

/// What a SyncGroup gets back.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncResult {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(e: GroupError) -> SyncResult {
        SyncResult { error: Some(e), protocol_type: None, protocol_name: None, assignment: Bytes::new() }
    }
}

/// An answer to a request that was parked earlier.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    Join { member_id: String, result: JoinResult },
    Sync { member_id: String, result: SyncResult },
}

/// A JoinGroup as the state machine sees it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a new dynamic member must come back with the id we give it (KIP-394).
    pub require_known_member_id: bool,
}

/// Either an answer now, or "parked": the answer comes as a [`Completion`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<T> {
    Now(T),
    Parked { member_id: String },
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// group.instance.id → member id of the static member holding it.
    pub static_members: BTreeMap<String, String>,
    /// Member ids handed out by MEMBER_ID_REQUIRED, not yet joined.
    pending_members: BTreeSet<String>,
    /// When the current phase (join or sync) must end.
    phase_deadline_ms: Option<i64>,
    /// Latest end of the initial-delay window (the delay keeps extending until then).
    initial_delay_cap_ms: Option<i64>,
    /// Last state change, for DescribeGroups and offsets retention.
    pub state_changed_ms: i64,
    settings: GroupSettings,
    member_seq: u64,
}

impl Group {
    pub fn new(id: &str, settings: GroupSettings, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeSet::new(),
            phase_deadline_ms: None,
            initial_delay_cap_ms: None,
            state_changed_ms: now_ms,
            settings,
            member_seq: 0,
        }
    }

    fn transition(&mut self, to: GroupState, now_ms: i64) {
        self.state = to;
        self.state_changed_ms = now_ms;
    }

    fn new_member_id(&mut self, client_id: &str, now_ms: i64) -> String {
        self.member_seq += 1;
        // unique within the group's lifetime and across restarts (time prefix)
        format!("{client_id}-{now_ms:x}-{:x}", self.member_seq)
    }

    /// The largest rebalance timeout among members bounds a rebalance.
    fn rebalance_timeout_ms(&self) -> i64 {
        self.members.values().map(|m| m.rebalance_timeout_ms as i64).max().unwrap_or(0)
    }

    pub fn join(&mut self, req: JoinRequest, now_ms: i64) -> (Reply<JoinResult>, Vec<Completion>) {
        let err = |e| (Reply::Now(JoinResult::error(&req.member_id, e)), vec![]);
        if self.state == GroupState::Dead {
            return err(GroupError::CoordinatorNotAvailable);
        }
        let s = &self.settings;
        if req.session_timeout_ms < s.min_session_timeout_ms || req.session_timeout_ms > s.max_session_timeout_ms {
            return err(GroupError::InvalidSessionTimeout);
        }
        if req.protocol_type.is_empty()
            || req.protocols.is_empty()
            || !self.supports(&req.protocol_type, &req.protocols)
        {
            return err(GroupError::InconsistentGroupProtocol);
        }
        if req.member_id.is_empty() {
            self.join_new(req, now_ms)
        } else {
            self.join_known(req, now_ms)
        }
    }

    /// Whether a member with these protocols can be in this group.
    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// Protocols every current member supports.
    fn candidate_protocols(&self) -> BTreeSet<String> {
        let mut it = self.members.values();
        let Some(first) = it.next() else { return BTreeSet::new() };
        let mut set: BTreeSet<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in it {
            set.retain(|n| m.protocols.iter().any(|(p, _)| p == n));
        }
        set
    }

    fn join_new(&mut self, req: JoinRequest, now_ms: i64) -> (Reply<JoinResult>, Vec<Completion>) {
        if let Some(instance) = req.instance_id.clone() {
            if let Some(old_id) = self.static_members.get(&instance).cloned() {
                return self.rejoin_static(req, instance, old_id, now_ms);
            }
        }
        if self.members.len() >= self.settings.max_size {
            return (Reply::Now(JoinResult::error("", GroupError::GroupMaxSizeReached)), vec![]);
        }
        let member_id = self.new_member_id(&req.client_id, now_ms);
        if req.require_known_member_id && req.instance_id.is_none() {
            self.pending_members.insert(member_id.clone());
            return (Reply::Now(JoinResult::error(&member_id, GroupError::MemberIdRequired)), vec![]);
        }
        self.add_member(member_id, req, now_ms)
    }

    /// A static member restarted: it takes over its old slot under a new member id,
    /// and the old id is fenced. A stable group with unchanged protocols does not
    /// rebalance (KIP-345).
    fn rejoin_static(
        &mut self,
        req: JoinRequest,
        instance: String,
        old_id: String,
        now_ms: i64,
    ) -> (Reply<JoinResult>, Vec<Completion>) {
        let new_id = self.new_member_id(&req.client_id, now_ms);
        let mut member = self.members.remove(&old_id).expect("static map points at a member");
        let protocols_same = member.same_protocols(&req.protocols);
        let mut completions = Vec::new();
        if member.awaiting_join {
            completions.push(Completion::Join {
                member_id: old_id.clone(),
                result: JoinResult::error(&old_id, GroupError::FencedInstanceId),
            });
        }
        if member.awaiting_sync {
            completions.push(Completion::Sync {
                member_id: old_id.clone(),
                result: SyncResult::error(GroupError::FencedInstanceId),
            });
        }
        member.id = new_id.clone();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.last_heartbeat_ms = now_ms;
        member.awaiting_join = false;
        member.awaiting_sync = false;
        self.members.insert(new_id.clone(), member);
        self.static_members.insert(instance, new_id.clone());
        if self.leader_id.as_deref() == Some(old_id.as_str()) {
            self.leader_id = Some(new_id.clone());
        }
        if self.state == GroupState::Stable && protocols_same {
            // same generation, same assignment: answer as if the join had completed
            let mut result = self.join_result_for(&new_id);
            result.members.clear();
            return (Reply::Now(result), completions);
        }
        let m = self.members.get_mut(&new_id).expect("just inserted");
        m.protocols = req.protocols;
        let (reply, more) = self.park_join(new_id, now_ms);
        completions.extend(more);
        (reply, completions)
    }

    fn add_member(&mut self, member_id: String, req: JoinRequest, now_ms: i64) -> (Reply<JoinResult>, Vec<Completion>) {
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(instance) = &req.instance_id {
            self.static_members.insert(instance.clone(), member_id.clone());
        }
        self.members.insert(
            member_id.clone(),
            Member {
                id: member_id.clone(),
                instance_id: req.instance_id,
                client_id: req.client_id,
                client_host: req.client_host,
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                protocol_type: req.protocol_type,
                protocols: req.protocols,
                assignment: Bytes::new(),
                last_heartbeat_ms: now_ms,
                awaiting_join: false,
                awaiting_sync: false,
            },
        );
        self.park_join(member_id, now_ms)
    }

    fn join_known(&mut self, req: JoinRequest, now_ms: i64) -> (Reply<JoinResult>, Vec<Completion>) {
        let id = req.member_id.clone();
        if self.pending_members.remove(&id) {
            if self.members.len() >= self.settings.max_size {
                return (Reply::Now(JoinResult::error(&id, GroupError::GroupMaxSizeReached)), vec![]);
            }
            return self.add_member(id, req, now_ms);
        }
        if let Err(e) = self.check_member(&id, req.instance_id.as_deref()) {
            return (Reply::Now(JoinResult::error(&id, e)), vec![]);
        }
        let member = self.members.get_mut(&id).expect("checked");
        let same = member.same_protocols(&req.protocols);
        member.last_heartbeat_ms = now_ms;
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.protocols = req.protocols;
        let is_leader = self.leader_id.as_deref() == Some(id.as_str());
        match self.state {
            GroupState::CompletingRebalance if same => (Reply::Now(self.join_result_for(&id)), vec![]),
            GroupState::Stable if same && !is_leader => {
                let mut r = self.join_result_for(&id);
                r.members.clear();
                (Reply::Now(r), vec![])
            }
            _ => self.park_join(id, now_ms),
        }
    }

    /// Checks that `id` is a current member and not a fenced static one.
    fn check_member(&self, id: &str, instance_id: Option<&str>) -> Result<(), GroupError> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                Some(owner) if owner != id => return Err(GroupError::FencedInstanceId),
                None if self.members.contains_key(id) => return Err(GroupError::FencedInstanceId),
                _ => {}
            }
        }
        if !self.members.contains_key(id) {
            return Err(GroupError::UnknownMemberId);
        }
        Ok(())
    }

    /// Marks the member as waiting for the rebalance, starting one if needed.
    fn park_join(&mut self, member_id: String, now_ms: i64) -> (Reply<JoinResult>, Vec<Completion>) {
        if let Some(m) = self.members.get_mut(&member_id) {
            m.awaiting_join = true;
        }
        let mut completions = Vec::new();
        if self.state != GroupState::PreparingRebalance {
            completions.extend(self.prepare_rebalance(now_ms));
        } else if let (Some(cap), true) = (self.initial_delay_cap_ms, self.settings.initial_rebalance_delay_ms > 0) {
            // a new member during the initial delay extends it, up to the cap
            self.phase_deadline_ms = Some((now_ms + self.settings.initial_rebalance_delay_ms).min(cap));
        }
        completions.extend(self.maybe_complete_join(now_ms));
        let still_parked = self.members.get(&member_id).is_some_and(|m| m.awaiting_join);
        if still_parked {
            return (Reply::Parked { member_id }, completions);
        }
        // completed right away: hand this member its answer directly
        let pos =
            completions.iter().position(|c| matches!(c, Completion::Join { member_id: m, .. } if *m == member_id));
        match pos {
            Some(i) => match completions.remove(i) {
                Completion::Join { result, .. } => (Reply::Now(result), completions),
                Completion::Sync { .. } => unreachable!("position matched a join"),
            },
            None => (Reply::Parked { member_id }, completions),
        }
    }

    fn prepare_rebalance(&mut self, now_ms: i64) -> Vec<Completion> {
        let mut completions = Vec::new();
        if self.state == GroupState::CompletingRebalance {
            // syncs waiting for the old generation's assignment must rejoin
            for m in self.members.values_mut().filter(|m| m.awaiting_sync) {
                m.awaiting_sync = false;
                completions.push(Completion::Sync {
                    member_id: m.id.clone(),
                    result: SyncResult::error(GroupError::RebalanceInProgress),
                });
            }
        }
        let initial = self.state == GroupState::Empty && self.settings.initial_rebalance_delay_ms > 0;
        self.transition(GroupState::PreparingRebalance, now_ms);
        let rebalance_deadline = now_ms + self.rebalance_timeout_ms();
        if initial {
            self.initial_delay_cap_ms = Some(rebalance_deadline.max(now_ms + self.settings.initial_rebalance_delay_ms));
            self.phase_deadline_ms = Some(now_ms + self.settings.initial_rebalance_delay_ms);
        } else {
            self.initial_delay_cap_ms = None;
            self.phase_deadline_ms = Some(rebalance_deadline);
        }
        completions
    }

    /// Completes the join phase when every member has rejoined (and no initial
    /// delay is running), or when `force` (the deadline passed).
    fn maybe_complete_join(&mut self, now_ms: i64) -> Vec<Completion> {
        if self.state != GroupState::PreparingRebalance {
            return vec![];
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join);
        let delaying = self.initial_delay_cap_ms.is_some() && self.phase_deadline_ms.is_some_and(|d| now_ms < d);
        if all_joined && !delaying && self.pending_members.is_empty() {
            return self.complete_join(now_ms);
        }
        vec![]
    }

    fn complete_join(&mut self, now_ms: i64) -> Vec<Completion> {
        // members that did not rejoin in time leave the group
        let gone: Vec<String> = self.members.values().filter(|m| !m.awaiting_join).map(|m| m.id.clone()).collect();
        for id in gone {
            self.remove_member(&id);
        }
        self.pending_members.clear();
        self.initial_delay_cap_ms = None;
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader_id = None;
            self.phase_deadline_ms = None;
            self.transition(GroupState::Empty, now_ms);
            return vec![];
        }
        self.protocol_name = Some(self.select_protocol());
        if !self.leader_id.as_ref().is_some_and(|l| self.members.contains_key(l)) {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.transition(GroupState::CompletingRebalance, now_ms);
        self.phase_deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
        let ids: Vec<String> = self.members.keys().cloned().collect();
        ids.into_iter()
            .map(|id| {
                let m = self.members.get_mut(&id).expect("listed");
                m.awaiting_join = false;
                m.last_heartbeat_ms = now_ms;
                Completion::Join { member_id: id.clone(), result: self.join_result_for(&id) }
            })
            .collect()
    }

    /// Each member votes for its most preferred protocol among those all support.
    fn select_protocol(&self) -> String {
        let candidates = self.candidate_protocols();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by_key(|(name, n)| (*n, std::cmp::Reverse(*name)))
            .map(|(n, _)| n.to_string())
            .unwrap_or_default()
    }

    fn join_result_for(&self, member_id: &str) -> JoinResult {
        let leader = self.leader_id.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members.values().map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata_for(&protocol))).collect()
        } else {
            vec![]
        };
        JoinResult {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
        }
    }

    fn remove_member(&mut self, id: &str) {
        if let Some(m) = self.members.remove(id) {
            if let Some(instance) = m.instance_id {
                if self.static_members.get(&instance).map(String::as_str) == Some(id) {
                    self.static_members.remove(&instance);
                }
            }
        }
        if self.leader_id.as_deref() == Some(id) {
            self.leader_id = self.members.keys().next().cloned();
        }
    }

    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        protocol: Option<(&str, &str)>,
        assignments: Vec<(String, Bytes)>,
        now_ms: i64,
    ) -> (Reply<SyncResult>, Vec<Completion>) {
        let err = |e| (Reply::Now(SyncResult::error(e)), vec![]);
        if self.state == GroupState::Dead {
            return err(GroupError::CoordinatorNotAvailable);
        }
        if let Err(e) = self.check_member(member_id, instance_id) {
            return err(e);
        }
        if generation_id != self.generation_id {
            return err(GroupError::IllegalGeneration);
        }
        if let Some((ptype, pname)) = protocol {
            if self.protocol_type.as_deref() != Some(ptype) || self.protocol_name.as_deref() != Some(pname) {
                return err(GroupError::InconsistentGroupProtocol);
            }
        }
        match self.state {
            GroupState::PreparingRebalance => err(GroupError::RebalanceInProgress),
            GroupState::Stable => {
                self.members.get_mut(member_id).expect("checked").last_heartbeat_ms = now_ms;
                (Reply::Now(self.sync_result_for(member_id)), vec![])
            }
            GroupState::CompletingRebalance => {
                let m = self.members.get_mut(member_id).expect("checked");
                m.awaiting_sync = true;
                m.last_heartbeat_ms = now_ms;
                if self.leader_id.as_deref() != Some(member_id) {
                    return (Reply::Parked { member_id: member_id.to_string() }, vec![]);
                }
                for m in self.members.values_mut() {
                    m.assignment = Bytes::new();
                }
                for (id, a) in assignments {
                    if let Some(m) = self.members.get_mut(&id) {
                        m.assignment = a;
                    }
                }
                self.transition(GroupState::Stable, now_ms);
                self.phase_deadline_ms = None;
                let mut completions: Vec<Completion> = Vec::new();
                let mut mine = None;
                let ids: Vec<String> = self.members.keys().cloned().collect();
                for id in ids {
                    let m = self.members.get_mut(&id).expect("listed");
                    if !m.awaiting_sync {
                        continue;
                    }
                    m.awaiting_sync = false;
                    let result = self.sync_result_for(&id);
                    if id == member_id {
                        mine = Some(result);
                    } else {
                        completions.push(Completion::Sync { member_id: id, result });
                    }
                }
                (Reply::Now(mine.expect("the leader was awaiting sync")), completions)
            }
            GroupState::Empty | GroupState::Dead => err(GroupError::UnknownMemberId),
        }
    }

    fn sync_result_for(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self.members.get(member_id).map(|m| m.assignment.clone()).unwrap_or_default(),
        }
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        self.check_member(member_id, instance_id)?;
        if generation_id != self.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        self.members.get_mut(member_id).expect("checked").last_heartbeat_ms = now_ms;
        match self.state {
            GroupState::PreparingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::Empty => Err(GroupError::UnknownMemberId),
            _ => Ok(()),
        }
    }

    /// A member leaves (by member id, or by instance id for static members).
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        now_ms: i64,
    ) -> (Result<(), GroupError>, Vec<Completion>) {
        if self.state == GroupState::Dead {
            return (Err(GroupError::CoordinatorNotAvailable), vec![]);
        }
        let id = match instance_id {
            Some(instance) => match self.static_members.get(instance) {
                Some(owner) if member_id.is_empty() || owner == member_id => owner.clone(),
                Some(_) => return (Err(GroupError::FencedInstanceId), vec![]),
                None => return (Err(GroupError::UnknownMemberId), vec![]),
            },
            None => {
                if self.pending_members.remove(member_id) {
                    return (Ok(()), self.maybe_complete_join(now_ms));
                }
                if !self.members.contains_key(member_id) {
                    return (Err(GroupError::UnknownMemberId), vec![]);
                }
                member_id.to_string()
            }
        };
        (Ok(()), self.member_gone(&id, now_ms))
    }

    /// Removes a member (left or expired) and rebalances the rest.
    fn member_gone(&mut self, id: &str, now_ms: i64) -> Vec<Completion> {
        let mut completions = Vec::new();
        if let Some(m) = self.members.get(id) {
            if m.awaiting_join {
                completions.push(Completion::Join {
                    member_id: id.to_string(),
                    result: JoinResult::error(id, GroupError::UnknownMemberId),
                });
            }
            if m.awaiting_sync {
                completions.push(Completion::Sync {
                    member_id: id.to_string(),
                    result: SyncResult::error(GroupError::UnknownMemberId),
                });
            }
        }
        self.remove_member(id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    // Kafka keeps the protocol type of an emptied group (DescribeGroups
                    // and ListGroups still say `consumer`); only the protocol goes
                    self.generation_id += 1;
                    self.protocol_name = None;
                    self.phase_deadline_ms = None;
                    self.transition(GroupState::Empty, now_ms);
                } else {
                    completions.extend(self.prepare_rebalance(now_ms));
                }
            }
            GroupState::PreparingRebalance => completions.extend(self.maybe_complete_join(now_ms)),
            GroupState::Empty | GroupState::Dead => {}
        }
        completions
    }

    /// Advances time: expires sessions and phase deadlines.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Completion> {
        let mut completions = Vec::new();
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                !m.awaiting_join && !m.awaiting_sync && now_ms - m.last_heartbeat_ms > m.session_timeout_ms as i64
            })
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            completions.extend(self.member_gone(&id, now_ms));
        }
        if self.phase_deadline_ms.is_some_and(|d| now_ms >= d) {
            match self.state {
                GroupState::PreparingRebalance => completions.extend(self.complete_join(now_ms)),
                GroupState::CompletingRebalance => {
                    // members that never synced are dropped; the rest rebalance
                    let laggards: Vec<String> =
                        self.members.values().filter(|m| !m.awaiting_sync).map(|m| m.id.clone()).collect();
                    for id in laggards {
                        completions.extend(self.member_gone(&id, now_ms));
                    }
                    if self.state == GroupState::CompletingRebalance {
                        completions.extend(self.prepare_rebalance(now_ms));
                    }
                }
                _ => self.phase_deadline_ms = None,
            }
        }
        completions
    }

    /// Marks the group deleted; only an empty group can be.
    pub fn delete(&mut self, now_ms: i64) -> Result<(), GroupError> {
        if self.state != GroupState::Empty && self.state != GroupState::Dead {
            return Err(GroupError::NonEmptyGroup);
        }
        self.transition(GroupState::Dead, now_ms);
        Ok(())
    }

    /// Restores a group persisted as Stable (after a restart): members keep their
    /// generation and assignment and must heartbeat within their session.
    pub fn restore_stable(
        &mut self,
        generation_id: i32,
        protocol_type: String,
        protocol_name: Option<String>,
        leader: Option<String>,
        members: Vec<Member>,
        now_ms: i64,
    ) {
        self.generation_id = generation_id;
        self.protocol_type = Some(protocol_type);
        self.protocol_name = protocol_name;
        self.leader_id = leader;
        for mut m in members {
            m.last_heartbeat_ms = now_ms;
            if let Some(i) = &m.instance_id {
                self.static_members.insert(i.clone(), m.id.clone());
            }
            self.members.insert(m.id.clone(), m);
        }
        let state = if self.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
        self.transition(state, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: GroupSettings = GroupSettings {
        min_session_timeout_ms: 100,
        max_session_timeout_ms: 100_000,
        initial_rebalance_delay_ms: 0,
        max_size: 10,
    };

    fn req(member_id: &str, instance: Option<&str>) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            instance_id: instance.map(String::from),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 1_000,
            rebalance_timeout_ms: 5_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
            require_known_member_id: false,
        }
    }

    fn joined(reply: Reply<JoinResult>) -> JoinResult {
        match reply {
            Reply::Now(r) => r,
            Reply::Parked { member_id } => panic!("{member_id} is parked"),
        }
    }

    /// One member joins and syncs: generation 1, Stable.
    fn stable_single(g: &mut Group) -> String {
        let (r, _) = g.join(req("", None), 0);
        let r = joined(r);
        assert_eq!(r.error, None);
        assert_eq!(r.generation_id, 1);
        assert_eq!(r.leader, r.member_id);
        let (s, _) = g.sync(&r.member_id, None, 1, None, vec![(r.member_id.clone(), Bytes::from_static(b"a1"))], 0);
        assert!(matches!(s, Reply::Now(SyncResult { error: None, .. })));
        assert_eq!(g.state, GroupState::Stable);
        r.member_id
    }

    #[test]
    fn member_id_required_round_trip() {
        let mut g = Group::new("g", SETTINGS, 0);
        let mut r = req("", None);
        r.require_known_member_id = true;
        let first = joined(g.join(r.clone(), 0).0);
        assert_eq!(first.error, Some(GroupError::MemberIdRequired));
        assert!(!first.member_id.is_empty());
        r.member_id = first.member_id.clone();
        let second = joined(g.join(r, 0).0);
        assert_eq!(second.error, None);
        assert_eq!(second.member_id, first.member_id);
    }

    #[test]
    fn second_member_triggers_rebalance_and_leader_assigns() {
        let mut g = Group::new("g", SETTINGS, 0);
        let a = stable_single(&mut g);
        // b joins: parked until a rejoins
        let (rb, _) = g.join(req("", None), 10);
        let Reply::Parked { member_id: b } = rb else { panic!("b should wait") };
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(g.heartbeat(&a, None, 1, 11), Err(GroupError::RebalanceInProgress));
        let (ra, completions) = g.join(req(&a, None), 12);
        let ra = joined(ra);
        assert_eq!(ra.generation_id, 2);
        assert_eq!(ra.leader, a, "the existing leader keeps leadership");
        assert_eq!(ra.members.len(), 2);
        assert!(
            matches!(&completions[..], [Completion::Join { member_id, result }] if *member_id == b && result.members.is_empty())
        );
        // follower syncs first and waits; the leader's sync releases it
        let (sb, _) = g.sync(&b, None, 2, None, vec![], 13);
        assert!(matches!(sb, Reply::Parked { .. }));
        let (sa, done) = g.sync(
            &a,
            None,
            2,
            None,
            vec![(a.clone(), Bytes::from_static(b"A")), (b.clone(), Bytes::from_static(b"B"))],
            14,
        );
        assert!(matches!(sa, Reply::Now(SyncResult { ref assignment, .. }) if &assignment[..] == b"A"));
        assert!(matches!(&done[..], [Completion::Sync { result, .. }] if &result.assignment[..] == b"B"));
        assert_eq!(g.state, GroupState::Stable);
    }

    #[test]
    fn stale_generation_and_unknown_member_are_rejected() {
        let mut g = Group::new("g", SETTINGS, 0);
        let a = stable_single(&mut g);
        assert_eq!(g.heartbeat(&a, None, 0, 1), Err(GroupError::IllegalGeneration));
        assert_eq!(g.heartbeat("nobody", None, 1, 1), Err(GroupError::UnknownMemberId));
        assert_eq!(g.heartbeat(&a, None, 1, 1), Ok(()));
        let (s, _) = g.sync(&a, None, 7, None, vec![], 1);
        assert!(matches!(s, Reply::Now(SyncResult { error: Some(GroupError::IllegalGeneration), .. })));
    }

    #[test]
    fn inconsistent_protocols_and_size_limit() {
        let mut g = Group::new("g", SETTINGS, 0);
        stable_single(&mut g);
        let mut other = req("", None);
        other.protocols = vec![("roundrobin-only".into(), Bytes::new())];
        assert_eq!(joined(g.join(other, 1).0).error, Some(GroupError::InconsistentGroupProtocol));
        let mut wrong_type = req("", None);
        wrong_type.protocol_type = "connect".into();
        assert_eq!(joined(g.join(wrong_type, 1).0).error, Some(GroupError::InconsistentGroupProtocol));
        let mut small = Group::new("s", GroupSettings { max_size: 1, ..SETTINGS }, 0);
        stable_single(&mut small);
        assert_eq!(joined(small.join(req("", None), 1).0).error, Some(GroupError::GroupMaxSizeReached));
        let mut bad = req("", None);
        bad.session_timeout_ms = 1;
        assert_eq!(joined(g.join(bad, 1).0).error, Some(GroupError::InvalidSessionTimeout));
    }

    #[test]
    fn session_expiry_evicts_and_empties() {
        let mut g = Group::new("g", SETTINGS, 0);
        let a = stable_single(&mut g);
        assert!(g.tick(900).is_empty());
        assert_eq!(g.heartbeat(&a, None, 1, 900), Ok(()));
        g.tick(1_800);
        assert_eq!(g.state, GroupState::Stable);
        g.tick(2_000);
        assert_eq!(g.state, GroupState::Empty);
        assert!(g.members.is_empty());
        // as Kafka: the protocol goes, the protocol type stays
        assert_eq!(g.protocol_name, None);
        assert!(g.protocol_type.is_some());
        assert_eq!(g.heartbeat(&a, None, 1, 2_001), Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn member_that_does_not_rejoin_is_dropped_at_the_rebalance_deadline() {
        let mut g = Group::new("g", SETTINGS, 0);
        let a = stable_single(&mut g);
        let (rb, _) = g.join(req("", None), 100);
        let Reply::Parked { member_id: b } = rb else { panic!() };
        // a keeps heartbeating (told to rejoin) but never rejoins
        assert_eq!(g.heartbeat(&a, None, 1, 900), Err(GroupError::RebalanceInProgress));
        let done = g.tick(100 + 5_000);
        assert!(done
            .iter()
            .any(|c| matches!(c, Completion::Join { member_id, result } if *member_id == b && result.leader == b)));
        assert!(!g.members.contains_key(&a));
        assert_eq!(g.state, GroupState::CompletingRebalance);
        assert_eq!(g.generation_id, 2);
    }

    #[test]
    fn leave_rebalances_remaining_members_and_moves_leadership() {
        let mut g = Group::new("g", SETTINGS, 0);
        let a = stable_single(&mut g);
        let Reply::Parked { member_id: b } = g.join(req("", None), 1).0 else { panic!() };
        g.join(req(&a, None), 2);
        g.sync(&b, None, 2, None, vec![], 3);
        g.sync(&a, None, 2, None, vec![], 3);
        assert_eq!(g.state, GroupState::Stable);
        let (r, _) = g.leave(&a, None, 4);
        assert_eq!(r, Ok(()));
        assert_eq!(g.state, GroupState::PreparingRebalance);
        let rb = joined(g.join(req(&b, None), 5).0);
        assert_eq!(rb.leader, b, "leadership moves to a remaining member");
        assert_eq!(rb.generation_id, 3);
        assert_eq!(g.leave("ghost", None, 6).0, Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn static_member_restart_within_session_does_not_rebalance() {
        let mut g = Group::new("g", SETTINGS, 0);
        let r = joined(g.join(req("", Some("inst-1")), 0).0);
        g.sync(&r.member_id, Some("inst-1"), 1, None, vec![(r.member_id.clone(), Bytes::from_static(b"mine"))], 0);
        assert_eq!(g.state, GroupState::Stable);
        // restarted process: unknown member id, same instance id
        let again = joined(g.join(req("", Some("inst-1")), 500).0);
        assert_eq!(again.error, None);
        assert_eq!(again.generation_id, 1, "no new generation");
        assert_eq!(g.state, GroupState::Stable);
        assert_ne!(again.member_id, r.member_id);
        let (s, _) = g.sync(&again.member_id, Some("inst-1"), 1, None, vec![], 501);
        assert!(matches!(s, Reply::Now(SyncResult { ref assignment, .. }) if &assignment[..] == b"mine"));
        // the old incarnation is fenced
        assert_eq!(g.heartbeat(&r.member_id, Some("inst-1"), 1, 502), Err(GroupError::FencedInstanceId));
        assert_eq!(g.leave(&r.member_id, Some("inst-1"), 503).0, Err(GroupError::FencedInstanceId));
    }

    #[test]
    fn initial_delay_waits_for_more_members() {
        let mut g = Group::new("g", GroupSettings { initial_rebalance_delay_ms: 300, ..SETTINGS }, 0);
        let Reply::Parked { member_id: a } = g.join(req("", None), 0).0 else { panic!("delayed") };
        assert!(g.tick(200).is_empty());
        let Reply::Parked { member_id: b } = g.join(req("", None), 250).0 else { panic!("delayed") };
        // the window extends to 250 + 300
        assert!(g.tick(500).is_empty());
        let done = g.tick(560);
        assert_eq!(done.len(), 2);
        assert_eq!(g.generation_id, 1);
        assert!(g.members.contains_key(&a) && g.members.contains_key(&b));
    }

    #[test]
    fn rejoin_during_completing_rebalance_gets_the_same_generation() {
        let mut g = Group::new("g", SETTINGS, 0);
        let r = joined(g.join(req("", None), 0).0);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let again = joined(g.join(req(&r.member_id, None), 1).0);
        assert_eq!(again.generation_id, r.generation_id);
        assert_eq!(g.state, GroupState::CompletingRebalance);
    }

    #[test]
    fn leader_that_never_syncs_causes_a_new_rebalance() {
        let mut g = Group::new("g", SETTINGS, 0);
        let a = stable_single(&mut g);
        let Reply::Parked { member_id: b } = g.join(req("", None), 1).0 else { panic!() };
        g.join(req(&a, None), 2);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        let (sb, _) = g.sync(&b, None, 2, None, vec![], 3);
        assert!(matches!(sb, Reply::Parked { .. }));
        // the leader (a) never syncs: after the rebalance timeout it is dropped
        let done = g.tick(2 + 5_000);
        assert!(!g.members.contains_key(&a));
        assert!(done.iter().any(|c| matches!(c, Completion::Sync { member_id, result } if *member_id == b && result.error == Some(GroupError::RebalanceInProgress))));
        assert_eq!(g.state, GroupState::PreparingRebalance);
    }

    #[test]
    fn only_empty_groups_can_be_deleted() {
        let mut g = Group::new("g", SETTINGS, 0);
        let a = stable_single(&mut g);
        assert_eq!(g.delete(1), Err(GroupError::NonEmptyGroup));
        assert_eq!(g.leave(&a, None, 2).0, Ok(()));
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.delete(3), Ok(()));
        assert_eq!(g.state, GroupState::Dead);
    }
}

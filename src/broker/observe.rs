//! What the broker reports at a metrics scrape: every partition it hosts, its groups
//! and their lag. Read under each owner's own lock, one at a time.

use super::group::state::GroupState;
use super::Broker;
use crate::metrics::scrape::ScrapeGauges;
use std::collections::HashMap;

const GROUP_STATES: [GroupState; 5] = [
    GroupState::Empty,
    GroupState::PreparingRebalance,
    GroupState::CompletingRebalance,
    GroupState::Stable,
    GroupState::Dead,
];

impl Broker {
    pub fn observe_metrics(&self, g: &ScrapeGauges) {
        let mut high_watermarks: HashMap<(String, i32), i64> = HashMap::new();
        for topic in self.topics() {
            for p in topic.partitions() {
                let stats = p.stats();
                high_watermarks.insert((topic.name.clone(), p.index), stats.high_watermark);
                g.partition(&topic.name, p.index, &stats);
            }
        }
        let groups = self.groups.list();
        let counts: Vec<(&str, i64)> = GROUP_STATES
            .iter()
            .map(|s| (s.name(), groups.iter().filter(|(_, _, state)| state == s).count() as i64))
            .collect();
        g.group_states(&counts);
        for (group, _, _) in &groups {
            if let Ok(Some(d)) = self.groups.describe(group) {
                g.group_members(group, d.members.len());
            }
            for (topic, partition, committed) in self.groups.fetch_offsets(group, None).unwrap_or_default() {
                let (Some(c), Some(hw)) = (committed, high_watermarks.get(&(topic.clone(), partition))) else {
                    continue;
                };
                g.group_lag(group, &topic, partition, (hw - c.offset).max(0));
            }
        }
    }
}

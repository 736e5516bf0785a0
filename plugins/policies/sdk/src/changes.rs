use crate::{Endpoint, EndpointGroup, EndpointWeight, GroupChange};

/// Dials closer than this are the same dial: Global Accelerator keeps dials as floats,
/// and a policy that computes 33.333 against an observed 33.33 must not issue an
/// UpdateEndpointGroup on every tick.
const DIAL_EPSILON: f32 = 0.01;

/// The changes of a decision, holding only what differs from the observed state, one
/// [`GroupChange`] per group however many of its values change. A policy states the
/// values it wants for every group it manages; a converged state yields no changes and
/// so no cloud calls.
#[derive(Debug, Default)]
pub struct Changes {
    list: Vec<GroupChange>,
    dials: usize,
    weights: usize,
}

impl Changes {
    pub fn new() -> Self {
        Changes::default()
    }

    fn entry(&mut self, group: &EndpointGroup) -> &mut GroupChange {
        let at = match self
            .list
            .iter()
            .position(|c| c.endpoint_group_arn == group.arn)
        {
            Some(at) => at,
            None => {
                self.list.push(GroupChange {
                    endpoint_group_arn: group.arn.clone(),
                    traffic_dial_percentage: None,
                    weights: Vec::new(),
                });
                self.list.len() - 1
            }
        };
        &mut self.list[at]
    }

    /// Asks for `group`'s dial to be `dial`, unless it already is. Returns whether that
    /// is a change.
    pub fn dial(&mut self, group: &EndpointGroup, dial: f32) -> bool {
        if (group.traffic_dial_percentage - dial).abs() <= DIAL_EPSILON {
            return false;
        }
        let change = self.entry(group);
        let first = change.traffic_dial_percentage.replace(dial).is_none();
        if first {
            self.dials += 1;
        }
        true
    }

    /// Asks for `endpoint`'s weight in `group` to be `weight`, unless it already is.
    /// Returns whether that is a change.
    pub fn weight(&mut self, group: &EndpointGroup, endpoint: &Endpoint, weight: u8) -> bool {
        if endpoint.weight == weight {
            return false;
        }
        let change = self.entry(group);
        match change
            .weights
            .iter_mut()
            .find(|w| w.endpoint_id == endpoint.endpoint_id)
        {
            Some(w) => w.weight = weight,
            None => {
                change.weights.push(EndpointWeight {
                    endpoint_id: endpoint.endpoint_id.clone(),
                    weight,
                });
                self.weights += 1;
            }
        }
        true
    }

    /// Whether there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many groups get a new dial.
    pub fn dial_count(&self) -> usize {
        self.dials
    }

    /// How many endpoints get a new weight.
    pub fn weight_count(&self) -> usize {
        self.weights
    }

    pub fn into_vec(self) -> Vec<GroupChange> {
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(dial: f32) -> EndpointGroup {
        EndpointGroup {
            arn: "g1".into(),
            region: "r".into(),
            traffic_dial_percentage: dial,
            endpoints: vec![Endpoint {
                endpoint_id: "e1".into(),
                weight: 128,
                health_state: "HEALTHY".into(),
            }],
            health_check_interval_seconds: 10,
            threshold_count: 3,
        }
    }

    #[test]
    fn only_differences_become_changes() {
        let g = group(100.0);
        let mut c = Changes::new();
        assert!(!c.dial(&g, 100.0));
        assert!(!c.dial(&g, 99.995));
        assert!(!c.weight(&g, &g.endpoints[0], 128));
        assert!(c.is_empty());
        assert!(c.dial(&g, 0.0));
        assert!(c.weight(&g, &g.endpoints[0], 7));
        assert!(c.dial(&g, 10.0));
        assert_eq!((c.dial_count(), c.weight_count()), (1, 1));
        let list = c.into_vec();
        assert_eq!(list.len(), 1, "one change per group");
        assert_eq!(list[0].traffic_dial_percentage, Some(10.0));
        assert_eq!(list[0].weights[0].weight, 7);
    }
}

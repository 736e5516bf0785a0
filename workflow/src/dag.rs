//! The step graph: a stable topological order and cycle detection. Steps are indices in
//! file order; `needs[i]` lists the steps step `i` waits for.

use std::collections::{BTreeSet, VecDeque};

/// A topological order; among steps that are ready at the same time, file order wins, so
/// runs are reproducible. Steps on a cycle (never ready) are left out.
pub(crate) fn topological_order(needs: &[Vec<usize>]) -> Vec<usize> {
    let mut waiting: Vec<usize> = needs
        .iter()
        .map(|n| n.iter().collect::<BTreeSet<_>>().len())
        .collect();
    let mut dependents = vec![Vec::new(); needs.len()];
    for (step, deps) in needs.iter().enumerate() {
        for &dep in deps.iter().collect::<BTreeSet<_>>() {
            dependents[dep].push(step);
        }
    }
    let mut ready: BTreeSet<usize> = (0..needs.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(needs.len());
    while let Some(step) = ready.pop_first() {
        order.push(step);
        for &dependent in &dependents[step] {
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.insert(dependent);
            }
        }
    }
    order
}

/// One cycle per strongly connected group of steps, each starting at the group's first
/// step in file order and following `needs` edges back to it (the start is not repeated).
/// Self-loops are not reported here.
pub(crate) fn cycles(needs: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut found: Vec<Vec<usize>> = strongly_connected(needs)
        .into_iter()
        .filter(|component| component.len() > 1)
        .map(|component| {
            let members: BTreeSet<usize> = component.into_iter().collect();
            let start = *members.first().expect("component is not empty");
            shortest_cycle(needs, start, &members)
        })
        .collect();
    found.sort();
    found
}

/// Breadth-first search from `start` back to itself inside `members`.
fn shortest_cycle(needs: &[Vec<usize>], start: usize, members: &BTreeSet<usize>) -> Vec<usize> {
    let mut previous = vec![usize::MAX; needs.len()];
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &next in &needs[node] {
            if next == start {
                let mut path = vec![node];
                while *path.last().expect("path starts non-empty") != start {
                    path.push(previous[*path.last().expect("non-empty")]);
                }
                path.reverse();
                return path;
            }
            if members.contains(&next) && previous[next] == usize::MAX {
                previous[next] = node;
                queue.push_back(next);
            }
        }
    }
    vec![start]
}

/// Tarjan's algorithm without recursion, so a long chain of steps cannot exhaust the stack.
fn strongly_connected(needs: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = needs.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut counter = 0;
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, next edge to look at)
        let mut calls = vec![(root, 0usize)];
        index[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut edge)) = calls.last_mut() {
            if let Some(&next) = needs[node].get(*edge) {
                *edge += 1;
                if index[next] == UNSEEN {
                    index[next] = counter;
                    low[next] = counter;
                    counter += 1;
                    stack.push(next);
                    on_stack[next] = true;
                    calls.push((next, 0));
                } else if on_stack[next] {
                    low[node] = low[node].min(index[next]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_stable_among_ready_steps() {
        // 0 needs 2; 1 needs nothing; 2 needs nothing; 3 needs 0 and 1
        let needs = vec![vec![2], vec![], vec![], vec![0, 1]];
        assert_eq!(topological_order(&needs), vec![1, 2, 0, 3]);
    }

    #[test]
    fn finds_each_cycle_once_from_its_first_step() {
        // 0 -> 1 -> 2 -> 0, and 3 <-> 4, and 5 depends on the first cycle
        let needs = vec![vec![1], vec![2], vec![0], vec![4], vec![3], vec![0]];
        assert_eq!(cycles(&needs), vec![vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(topological_order(&needs), Vec::<usize>::new());
    }

    #[test]
    fn names_the_shortest_way_round() {
        // 0 -> 1 -> 0 and 0 -> 2 -> 3 -> 0: one group, the shortest cycle is named
        let needs = vec![vec![2, 1], vec![0], vec![3], vec![0]];
        assert_eq!(cycles(&needs), vec![vec![0, 1]]);
    }

    #[test]
    fn a_long_chain_does_not_recurse() {
        let n = 100_000;
        let mut needs: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
            .collect();
        assert!(cycles(&needs).is_empty());
        assert_eq!(topological_order(&needs).first(), Some(&(n - 1)));
        needs[n - 1].push(0);
        assert_eq!(cycles(&needs)[0].len(), n);
    }
}

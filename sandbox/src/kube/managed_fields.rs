//! Field ownership as kube-apiserver keeps it in `metadata.managedFields`
//! (structured-merge-diff): every write records the fields its manager set, a
//! server-side apply that would change a field another manager owns is a 409 Conflict
//! unless forced (which takes the field over), and a field an applier stops sending is
//! removed unless someone else still owns it.
//!
//! Choices, and why:
//! - The schema is not the OpenAPI one: lists are keyed by the fields the built-in
//!   types declare (`patch::list_keys`), `finalizers` is a set, other lists are atomic
//!   and objects are granular. A custom resource's list is keyed only if it shares a
//!   built-in name (`containers`).
//! - An owner gets the leaves it set and the keyed list items it added. Which objects a
//!   Go struct would also own (`f:labels: {.: {}}`) is not reproduced: it changes what
//!   `--show-managed-fields` prints, not who conflicts with whom.
//! - A write without a `fieldManager` is recorded under its user agent's product
//!   (`kubectl`), or `unknown` without one (kube-rs sends none), as kube-apiserver does.
//!   The sandbox's own controllers write without a manager: their writes are not
//!   recorded (a real cluster records `kube-controller-manager`). So objects they create
//!   have no managedFields and, as on a real server for such objects, later updates are
//!   not tracked until the first apply, which hands the existing fields to
//!   `before-first-apply`.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::objects::Part;
use super::patch;
use super::status::ApiError;
use super::time;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Element {
    /// An object's field: `f:name`.
    Field(String),
    /// An item of a keyed list, by its key fields and their JSON values, sorted by field
    /// name: `k:{"containerPort":80,"protocol":"TCP"}`.
    Key(Vec<(String, String)>),
    /// An item of a set list, by its JSON value: `v:"x"`.
    Value(String),
}

impl Element {
    /// Its FieldsV1 key.
    fn encode(&self) -> String {
        match self {
            Element::Field(f) => format!("f:{f}"),
            Element::Key(pairs) => {
                let inner: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", json!(k)))
                    .collect();
                format!("k:{{{}}}", inner.join(","))
            }
            Element::Value(v) => format!("v:{v}"),
        }
    }

    fn decode(key: &str) -> Option<Element> {
        let (kind, rest) = key.split_at_checked(2)?;
        match kind {
            "f:" => Some(Element::Field(rest.to_string())),
            "k:" => {
                let Value::Object(m) = serde_json::from_str(rest).ok()? else {
                    return None;
                };
                let mut pairs: Vec<(String, String)> =
                    m.into_iter().map(|(k, v)| (k, v.to_string())).collect();
                pairs.sort();
                Some(Element::Key(pairs))
            }
            "v:" => {
                let v: Value = serde_json::from_str(rest).ok()?;
                Some(Element::Value(v.to_string()))
            }
            _ => None,
        }
    }

    /// As structured-merge-diff prints it in a conflict: `.name`, `[name="c"]`, `[="x"]`.
    fn display(&self) -> String {
        match self {
            Element::Field(f) => format!(".{f}"),
            Element::Key(pairs) => {
                let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", inner.join(","))
            }
            Element::Value(v) => format!("[={v}]"),
        }
    }

    /// Whether list item `item` is the one this element names (by the JSON text its
    /// keys or value are held as).
    fn names(&self, item: &Value) -> bool {
        let text = |v: &Value| v.to_string();
        match self {
            Element::Field(_) => false,
            Element::Key(pairs) => pairs
                .iter()
                .all(|(k, v)| patch::key_value(item, k).is_some_and(|x| text(&x) == *v)),
            Element::Value(v) => text(item) == *v,
        }
    }
}

type Path = Vec<Element>;

fn display(path: &[Element]) -> String {
    path.iter().map(Element::display).collect()
}

/// A set of field paths (structured-merge-diff's `fieldpath.Set`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSet(BTreeSet<Path>);

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.union(&other.0).cloned().collect())
    }

    fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.difference(&other.0).cloned().collect())
    }

    fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.intersection(&other.0).cloned().collect())
    }

    /// Whether some path of the set lies strictly below `p` (paths sharing a prefix are
    /// adjacent in the set's order, right after the prefix itself).
    fn has_below(&self, p: &[Element]) -> bool {
        self.0
            .range(p.to_vec()..)
            .find(|q| q.as_slice() != p)
            .is_some_and(|q| q.starts_with(p))
    }

    /// Parses a `fieldsV1` tree; `None` if it is not one.
    pub fn from_fields_v1(v: &Value) -> Option<FieldSet> {
        fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) -> Option<()> {
            for (k, child) in v.as_object()? {
                if k == "." {
                    out.insert(path.clone());
                    continue;
                }
                path.push(Element::decode(k)?);
                match child.as_object() {
                    Some(m) if m.is_empty() => {
                        out.insert(path.clone());
                    }
                    Some(_) => walk(child, path, out)?,
                    None => return None,
                }
                path.pop();
            }
            Some(())
        }
        let mut out = BTreeSet::new();
        walk(v, &mut Vec::new(), &mut out)?;
        Some(FieldSet(out))
    }

    /// The `fieldsV1` tree: a path that is a member and has members below it is marked
    /// with `.`. Keys are written in order, so the text is the same with or without
    /// serde_json's `preserve_order`.
    pub fn to_fields_v1(&self) -> Value {
        #[derive(Default)]
        struct Node {
            member: bool,
            children: std::collections::BTreeMap<String, Node>,
        }
        fn render(n: &Node) -> Value {
            let mut m = Map::new();
            if n.member && !n.children.is_empty() {
                m.insert(".".into(), json!({}));
            }
            for (k, c) in &n.children {
                m.insert(k.clone(), render(c));
            }
            Value::Object(m)
        }
        let mut root = Node::default();
        for path in &self.0 {
            let mut node = &mut root;
            for el in path {
                node = node.children.entry(el.encode()).or_default();
            }
            node.member = true;
        }
        render(&root)
    }

    /// The paths of identity and server-written metadata, which no manager owns
    /// (kube-apiserver's `stripMeta`).
    fn strip_meta(mut self) -> FieldSet {
        const SERVER_META: &[&str] = &[
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        ];
        let field = |e: &Element, names: &[&str]| matches!(e, Element::Field(f) if names.contains(&f.as_str()));
        self.0.retain(|p| match p.as_slice() {
            [top] => !field(top, &["apiVersion", "kind", "metadata"]),
            [meta, f] => !(field(meta, &["metadata"]) && field(f, SERVER_META)),
            _ => true,
        });
        self
    }

    fn within(mut self, scope: Scope) -> FieldSet {
        self.0.retain(|p| scope.covers(p));
        self
    }
}

/// How the items of a list are told apart.
enum ListKind {
    Keyed(&'static [&'static str]),
    Set,
    Atomic,
}

/// The kind of list field `field` holding `items` (from either side of a comparison).
/// A keyed list with an item lacking a key is atomic: it has no identity to own.
fn list_kind(field: Option<&str>, items: &[&Value]) -> ListKind {
    let Some(field) = field else {
        return ListKind::Atomic;
    };
    if patch::is_set_list(field) {
        return ListKind::Set;
    }
    match patch::list_keys(field, items.first().copied()) {
        Some(keys)
            if items
                .iter()
                .all(|i| keys.iter().all(|k| patch::key_value(i, k).is_some())) =>
        {
            ListKind::Keyed(keys)
        }
        _ => ListKind::Atomic,
    }
}

fn item_element(kind: &ListKind, item: &Value) -> Option<Element> {
    match kind {
        ListKind::Keyed(keys) => {
            let mut pairs: Vec<(String, String)> = keys
                .iter()
                .map(|k| Some((k.to_string(), patch::key_value(item, k)?.to_string())))
                .collect::<Option<_>>()?;
            pairs.sort();
            Some(Element::Key(pairs))
        }
        ListKind::Set => Some(Element::Value(item.to_string())),
        ListKind::Atomic => None,
    }
}

/// The fields an applied configuration sets (structured-merge-diff's `ToFieldSet`):
/// its leaves, its keyed and set list items, its empty objects and nulls.
fn of_config(config: &Value) -> FieldSet {
    fn walk(v: &Value, field: Option<&str>, path: &mut Path, out: &mut BTreeSet<Path>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    path.push(Element::Field(k.clone()));
                    walk(child, Some(k), path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                let refs: Vec<&Value> = items.iter().collect();
                let kind = list_kind(field, &refs);
                if let ListKind::Atomic = kind {
                    out.insert(path.clone());
                    return;
                }
                for item in items {
                    let Some(el) = item_element(&kind, item) else {
                        continue;
                    };
                    path.push(el);
                    if item.is_object() {
                        walk(item, None, path, out);
                    }
                    out.insert(path.clone());
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(config, None, &mut Vec::new(), &mut out);
    FieldSet(out).strip_meta()
}

/// What a write changed: fields added or given another value, and fields removed.
#[derive(Default)]
struct Diff {
    changed: FieldSet,
    removed: FieldSet,
}

fn is_empty_container(v: Option<&Value>) -> bool {
    match v {
        None => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// structured-merge-diff's `Compare` of `old` and `new` (both without managedFields).
fn diff(old: &Value, new: &Value, scope: Scope) -> Diff {
    fn walk(
        old: Option<&Value>,
        new: Option<&Value>,
        field: Option<&str>,
        path: &mut Path,
        out: &mut Diff,
    ) {
        let objects = old.is_none_or(Value::is_object) && new.is_none_or(Value::is_object);
        let arrays = old.is_none_or(Value::is_array) && new.is_none_or(Value::is_array);
        let both_empty = is_empty_container(old) && is_empty_container(new);
        if objects && !both_empty {
            let keys: BTreeSet<&String> = [old, new]
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|m| m.keys())
                .collect();
            for k in keys {
                path.push(Element::Field(k.clone()));
                walk(
                    old.and_then(|o| o.get(k)),
                    new.and_then(|n| n.get(k)),
                    Some(k),
                    path,
                    out,
                );
                path.pop();
            }
            return;
        }
        if arrays && !both_empty {
            fn items(v: Option<&Value>) -> Vec<&Value> {
                v.and_then(Value::as_array)
                    .map(|a| a.iter().collect())
                    .unwrap_or_default()
            }
            let (before, after) = (items(old), items(new));
            let all: Vec<&Value> = before.iter().chain(after.iter()).copied().collect();
            let kind = list_kind(field, &all);
            if !matches!(kind, ListKind::Atomic) {
                fn index<'v>(
                    kind: &ListKind,
                    list: &[&'v Value],
                ) -> std::collections::BTreeMap<Element, &'v Value> {
                    let mut m = std::collections::BTreeMap::new();
                    for i in list {
                        if let Some(el) = item_element(kind, i) {
                            m.entry(el).or_insert(*i);
                        }
                    }
                    m
                }
                let (before, after) = (index(&kind, &before), index(&kind, &after));
                let elements: BTreeSet<&Element> = before.keys().chain(after.keys()).collect();
                for el in elements {
                    path.push(el.clone());
                    let (o, n) = (before.get(el).copied(), after.get(el).copied());
                    walk(o, n, None, path, out);
                    match (o, n) {
                        (None, Some(_)) => {
                            out.changed.0.insert(path.clone());
                        }
                        (Some(_), None) => {
                            out.removed.0.insert(path.clone());
                        }
                        _ => {}
                    }
                    path.pop();
                }
                return;
            }
        }
        match (old, new) {
            (None, Some(_)) => {
                out.changed.0.insert(path.clone());
            }
            (Some(_), None) => {
                out.removed.0.insert(path.clone());
            }
            (Some(a), Some(b)) if a != b => {
                out.changed.0.insert(path.clone());
            }
            _ => {}
        }
    }
    let mut out = Diff::default();
    walk(Some(old), Some(new), None, &mut Vec::new(), &mut out);
    out.changed = out.changed.within(scope);
    out.removed = out.removed.within(scope);
    out
}

/// Which part of an object a write may own: on a kind with a status subresource, the
/// main resource never owns `status` and `/status` owns only that (kube-apiserver's
/// reset fields).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scope {
    Whole,
    Main,
    Status,
}

impl Scope {
    /// The scope of a write to `part` of a kind that has (or not) a status subresource.
    pub fn of(has_status: bool, part: Part) -> Scope {
        match (has_status, part) {
            (_, Part::Status) => Scope::Status,
            (true, Part::Main) => Scope::Main,
            (false, Part::Main) => Scope::Whole,
        }
    }

    fn covers(self, p: &[Element]) -> bool {
        let status = matches!(p.first(), Some(Element::Field(f)) if f == "status");
        match self {
            Scope::Whole => true,
            Scope::Main => !status,
            Scope::Status => status,
        }
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    applied: bool,
    api_version: String,
    subresource: String,
    time: Option<String>,
    fields: FieldSet,
}

impl Entry {
    /// Whether two entries are the same manager: appliers are one manager across API
    /// versions, updaters one per version (kube-apiserver's manager identifier).
    fn same_manager(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.applied == other.applied
            && self.subresource == other.subresource
            && (self.applied || self.api_version == other.api_version)
    }

    /// The manager as a conflict names it: `"kubectl"`, `"kubectl-edit" using apps/v1`.
    fn label(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s += &format!(" with subresource {:?}", self.subresource);
        }
        if !self.applied {
            s += &format!(" using {}", self.api_version);
        }
        s
    }

    fn operation(&self) -> &'static str {
        if self.applied { "Apply" } else { "Update" }
    }

    fn seconds(&self) -> i64 {
        self.time
            .as_deref()
            .and_then(time::parse_rfc3339)
            .unwrap_or(0)
    }

    fn to_json(&self) -> Value {
        let mut e = json!({"manager": self.manager, "operation": self.operation(),
            "apiVersion": self.api_version, "fieldsType": "FieldsV1", "fieldsV1": self.fields.to_fields_v1()});
        if let Some(t) = &self.time {
            e["time"] = json!(t);
        }
        if !self.subresource.is_empty() {
            e["subresource"] = json!(self.subresource);
        }
        e
    }

    /// An entry as kube-apiserver decodes one; `None` when it would refuse it.
    fn from_json(v: &Value) -> Option<Entry> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let applied = match v.get("operation")?.as_str()? {
            "Apply" => true,
            "Update" => false,
            _ => return None,
        };
        if s("apiVersion").is_empty() || s("fieldsType") != "FieldsV1" {
            return None;
        }
        let fields = match v.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::default(),
            Some(f) => FieldSet::from_fields_v1(f)?,
        };
        Some(Entry {
            manager: s("manager"),
            applied,
            api_version: s("apiVersion"),
            subresource: s("subresource"),
            time: v.get("time").and_then(Value::as_str).map(String::from),
            fields,
        })
    }
}

/// The entries of a `managedFields` list; `None` if one cannot be decoded.
fn decode(list: Option<&Value>) -> Option<Vec<Entry>> {
    match list {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(Entry::from_json).collect(),
        Some(_) => None,
    }
}

/// The `managedFields` list, in kube-apiserver's order (appliers first, then oldest
/// first), without managers that own nothing; `None` when none remain.
fn encode(mut entries: Vec<Entry>) -> Option<Value> {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        (
            a.operation(),
            a.seconds(),
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation(),
                b.seconds(),
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    (!entries.is_empty()).then(|| Value::Array(entries.iter().map(Entry::to_json).collect()))
}

fn set_entries(obj: &mut Value, entries: Vec<Entry>) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    match encode(entries) {
        Some(list) => {
            meta.insert("managedFields".into(), list);
        }
        None => {
            meta.remove("managedFields");
        }
    }
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    obj
}

/// A write without a `fieldManager` is recorded under the product its user agent names
/// (`kubectl/v1.32.4 (linux/amd64)` is `kubectl`), printable characters only, at most
/// 128 bytes; `unknown` without one.
pub fn manager_of(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    if let Some(m) = field_manager.filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let product = user_agent.unwrap_or("").split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in product.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_MANAGER_BYTES {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        "unknown".into()
    } else {
        out
    }
}

/// The longest `fieldManager` kube-apiserver accepts (`FieldManagerMaxLength`).
pub const MAX_MANAGER_BYTES: usize = 128;

/// Past this many updaters, the oldest are merged into `ancient-changes`, one per API
/// version, so that managedFields stay bounded (`DefaultMaxUpdateManagers`).
const MAX_UPDATERS: usize = 10;

fn cap_updaters(entries: &mut Vec<Entry>) {
    const BUCKET: &str = "ancient-changes";
    let (mut updaters, appliers): (Vec<Entry>, Vec<Entry>) =
        entries.drain(..).partition(|e| !e.applied);
    *entries = appliers;
    let mut excess = updaters.len().saturating_sub(MAX_UPDATERS);
    updaters.sort_by(|a, b| (a.seconds(), &a.manager).cmp(&(b.seconds(), &b.manager)));
    let mut merged = vec![false; updaters.len()];
    let mut first_of: std::collections::HashMap<String, usize> = Default::default();
    for i in 0..updaters.len() {
        if excess == 0 {
            break;
        }
        let version = updaters[i].api_version.clone();
        let Some(&first) = first_of.get(&version) else {
            first_of.insert(version, i);
            continue;
        };
        let bucket = updaters
            .iter()
            .enumerate()
            .position(|(j, u)| {
                !merged[j]
                    && u.manager == BUCKET
                    && u.subresource.is_empty()
                    && u.api_version == version
            })
            .unwrap_or_else(|| {
                updaters[first].manager = BUCKET.into();
                updaters[first].subresource.clear();
                first
            });
        if bucket == i {
            continue;
        }
        let fields = updaters[i].fields.clone();
        updaters[bucket].fields = updaters[bucket].fields.union(&fields);
        updaters[bucket].time = updaters[i].time.clone();
        merged[i] = true;
        excess -= 1;
    }
    entries.extend(
        updaters
            .into_iter()
            .zip(merged)
            .filter(|(_, m)| !m)
            .map(|(u, _)| u),
    );
}

/// Who writes, as managedFields records it.
pub struct Writer<'a> {
    pub manager: &'a str,
    /// `status` or `scale` for a write to a subresource, else empty.
    pub subresource: &'a str,
    pub scope: Scope,
}

impl Writer<'_> {
    fn entry(&self, applied: bool, api_version: &str, fields: FieldSet) -> Entry {
        Entry {
            manager: self.manager.to_string(),
            applied,
            api_version: api_version.to_string(),
            subresource: self.subresource.to_string(),
            time: Some(time::now()),
            fields,
        }
    }
}

fn api_version(obj: &Value) -> String {
    obj.get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// `managedFields: []` or `[{}]` in a write asks for them to be cleared.
fn is_reset(sent: Option<&Value>) -> bool {
    match sent {
        Some(Value::Array(a)) => a.is_empty() || (a.len() == 1 && a[0] == json!({})),
        _ => false,
    }
}

/// Records a create (`old` is `None`) or an update that is not an apply in `new`'s
/// managedFields: the writer now owns what it added or changed, which every other
/// manager loses, and what it removed is no one's. The managers start from the ones the
/// write sent, if it sent any it may (a client that round-trips an object keeps them),
/// else from the stored ones.
pub fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer) {
    let live = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let sent = new.pointer("/metadata/managedFields");
    let mut entries = if !w.subresource.is_empty() {
        decode(live).unwrap_or_default()
    } else if is_reset(sent) {
        Vec::new()
    } else {
        match decode(sent) {
            Some(e) if !e.is_empty() => e,
            _ => decode(live).unwrap_or_default(),
        }
    };
    let after = without_managed_fields(new);
    if entries.is_empty() && old.is_some() {
        // An existing object nobody manages stays unmanaged until its first apply.
        *new = after;
        return;
    }
    let before = old.map_or_else(|| json!({}), without_managed_fields);
    let d = diff(&before, &after, w.scope);
    for e in &mut entries {
        e.fields = e.fields.difference(&d.changed).difference(&d.removed);
    }
    let mine = d.changed.strip_meta();
    if !mine.is_empty() {
        let me = w.entry(false, &api_version(&after), mine);
        match entries.iter_mut().find(|e| e.same_manager(&me)) {
            Some(e) => {
                e.fields = e.fields.union(&me.fields);
                e.time = me.time;
            }
            None => entries.push(me),
        }
    }
    cap_updaters(&mut entries);
    *new = after;
    set_entries(new, entries);
}

/// Removes from `obj` every path of `gone` below which nothing is still owned.
fn prune(obj: &mut Value, gone: &FieldSet, owned: &FieldSet) {
    fn lookup<'v>(v: &'v mut Value, path: &[Element]) -> Option<&'v mut Value> {
        let mut cur = v;
        for el in path {
            cur = match (el, cur) {
                (Element::Field(f), Value::Object(m)) => m.get_mut(f)?,
                (el, Value::Array(items)) => items.iter_mut().find(|i| el.names(i))?,
                _ => return None,
            };
        }
        Some(cur)
    }
    for p in &gone.0 {
        if owned.has_below(p) {
            continue;
        }
        let Some((last, head)) = p.split_last() else {
            continue;
        };
        match (last, lookup(obj, head)) {
            (Element::Field(f), Some(Value::Object(m))) => {
                m.remove(f);
            }
            (el, Some(Value::Array(items))) => items.retain(|i| !el.names(i)),
            _ => {}
        }
    }
}

/// The 409 of an apply that would change fields other managers own, worded as
/// kube-apiserver words it.
fn conflict_error(conflicts: &[(String, Path)]) -> ApiError {
    let message = if let [(manager, path)] = conflicts {
        format!(
            "Apply failed with 1 conflict: conflict with {manager}: {}",
            display(path)
        )
    } else {
        let mut lines = Vec::new();
        let mut last: Option<&str> = None;
        for (manager, path) in conflicts {
            if last != Some(manager.as_str()) {
                lines.push(format!("conflicts with {manager}:"));
                last = Some(manager);
            }
            lines.push(format!("- {}", display(path)));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(manager, path)| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with {manager}"), "field": display(path)})
        })
        .collect();
    ApiError::conflict_with_causes(message, causes)
}

/// Server-side apply of `config` by `w` onto `live` (`{}` when it creates the object):
/// the merged object, whose managedFields give the applier exactly what `config` sets,
/// or the 409 naming every field another manager owns that `config` would change.
/// `force` takes those fields over instead.
pub fn apply(live: &Value, config: &Value, w: &Writer, force: bool) -> Result<Value, ApiError> {
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let version = api_version(config);
    let live_plain = without_managed_fields(live);
    let mut entries = decode(live.pointer("/metadata/managedFields")).unwrap_or_default();
    if entries.is_empty() {
        // What existed before the first apply is owned by a manager of its own, so the
        // first applier conflicts with it like with anyone else.
        let existing = diff(&json!({}), &live_plain, w.scope).changed.strip_meta();
        if !existing.is_empty() {
            let before = Writer {
                manager: "before-first-apply",
                ..*w
            };
            entries.push(before.entry(false, &api_version(live), existing));
        }
    }
    let mut merged = live_plain.clone();
    patch::apply(&mut merged, config);
    let mine = of_config(config).within(w.scope);
    let me = w.entry(true, &version, mine.clone());
    let last = match entries.iter_mut().find(|e| e.same_manager(&me)) {
        Some(e) => std::mem::replace(&mut e.fields, mine),
        None => {
            entries.push(Entry {
                time: None,
                ..me.clone()
            });
            FieldSet::default()
        }
    };
    let owned = entries
        .iter()
        .fold(FieldSet::default(), |all, e| all.union(&e.fields));
    prune(&mut merged, &last.difference(&owned), &owned);
    let d = diff(&live_plain, &merged, w.scope);
    let mut conflicts: Vec<(String, Path)> = Vec::new();
    for e in entries.iter().filter(|e| !e.same_manager(&me)) {
        for p in &e.fields.intersection(&d.changed).0 {
            conflicts.push((e.label(), p.clone()));
        }
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort();
        return Err(conflict_error(&conflicts));
    }
    let changed = merged != live_plain;
    for e in &mut entries {
        if e.same_manager(&me) {
            if changed || e.time.is_none() {
                e.time = me.time.clone();
            }
            e.api_version = version.clone();
        } else {
            e.fields = e.fields.difference(&d.changed).difference(&d.removed);
        }
    }
    set_entries(&mut merged, entries);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            subresource: "",
            scope: Scope::Main,
        }
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "app", "image": image, "ports": [{"containerPort": 80}]}]}}}})
    }

    fn managers(obj: &Value) -> Vec<String> {
        obj["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{}/{}",
                    e["manager"].as_str().unwrap(),
                    e["operation"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn fields_v1_round_trips_and_marks_members_with_children() {
        let set = of_config(&deployment(2, "nginx"));
        let v1 = set.to_fields_v1();
        assert_eq!(
            v1,
            json!({"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}, "f:ports": {
                    "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}})
        );
        assert_eq!(FieldSet::from_fields_v1(&v1), Some(set));
        assert_eq!(FieldSet::from_fields_v1(&json!({"x:y": {}})), None);
    }

    #[test]
    fn a_second_applier_changing_a_field_conflicts_unless_forced() {
        let first = apply(&json!({}), &deployment(2, "nginx"), &writer("one"), false).unwrap();
        let e = apply(&first, &deployment(3, "nginx"), &writer("two"), false).unwrap_err();
        assert_eq!(e.code, 409);
        assert_eq!(
            e.message,
            "Apply failed with 1 conflict: conflict with \"one\": .spec.replicas"
        );
        assert_eq!(
            e.details.as_ref().unwrap()["causes"],
            json!([{"reason": "FieldManagerConflict", "message": "conflict with \"one\"", "field": ".spec.replicas"}])
        );
        let e = apply(&first, &deployment(3, "busybox"), &writer("two"), false).unwrap_err();
        assert_eq!(
            e.message,
            "Apply failed with 2 conflicts: conflicts with \"one\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"app\"].image"
        );
        // The same values are shared, not conflicting.
        let shared = apply(&first, &deployment(2, "nginx"), &writer("two"), false).unwrap();
        assert_eq!(managers(&shared), ["one/Apply", "two/Apply"]);
        // Forced, the field changes hands.
        let forced = apply(&shared, &deployment(3, "nginx"), &writer("two"), true).unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        let one = &forced["metadata"]["managedFields"][0];
        assert_eq!(one["manager"], "one");
        assert!(
            one.pointer("/fieldsV1/f:spec/f:replicas").is_none(),
            "{one}"
        );
        assert!(
            one.pointer("/fieldsV1/f:spec/f:template").is_some(),
            "{one}"
        );
        // And the first applier now conflicts in turn.
        let e = apply(&forced, &deployment(2, "nginx"), &writer("one"), false).unwrap_err();
        assert_eq!(
            e.message,
            "Apply failed with 1 conflict: conflict with \"two\": .spec.replicas"
        );
    }

    #[test]
    fn an_apply_conflicts_with_an_updater_named_with_its_api_version() {
        let mut created = deployment(1, "nginx");
        record_update(None, &mut created, &writer("kubectl-create"));
        assert_eq!(managers(&created), ["kubectl-create/Update"]);
        let e = apply(&created, &deployment(3, "nginx"), &writer("kubectl"), false).unwrap_err();
        assert_eq!(
            e.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-create\" using apps/v1: .spec.replicas"
        );
        // A scale is an update of the scale subresource.
        let scaler = Writer {
            manager: "kubectl",
            subresource: "scale",
            scope: Scope::Main,
        };
        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(Some(&created), &mut scaled, &scaler);
        let e = apply(&scaled, &deployment(3, "nginx"), &writer("kubectl"), false).unwrap_err();
        assert_eq!(
            e.message,
            "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas"
        );
    }

    #[test]
    fn updates_take_over_what_they_change_and_unmanaged_objects_stay_unmanaged() {
        let mut created = deployment(1, "nginx");
        record_update(None, &mut created, &writer("a"));
        let mut edited = created.clone();
        edited["spec"]["replicas"] = json!(2);
        record_update(Some(&created), &mut edited, &writer("b"));
        assert_eq!(managers(&edited), ["a/Update", "b/Update"]);
        let b = &edited["metadata"]["managedFields"][1]["fieldsV1"];
        assert_eq!(b, &json!({"f:spec": {"f:replicas": {}}}));
        let a = &edited["metadata"]["managedFields"][0]["fieldsV1"];
        assert!(a.pointer("/f:spec/f:replicas").is_none(), "{a}");
        // A write that changes nothing records nothing.
        let mut same = edited.clone();
        record_update(Some(&edited), &mut same, &writer("c"));
        assert_eq!(same, edited);
        // An object without managedFields (a controller's) stays without.
        let unmanaged = deployment(1, "nginx");
        let mut changed = deployment(4, "nginx");
        record_update(Some(&unmanaged), &mut changed, &writer("d"));
        assert!(changed["metadata"].get("managedFields").is_none());
        // `managedFields: [{}]` clears them.
        let mut reset = edited.clone();
        reset["metadata"]["managedFields"] = json!([{}]);
        record_update(Some(&edited), &mut reset, &writer("e"));
        assert!(reset["metadata"].get("managedFields").is_none(), "{reset}");
        // The first apply to such an object conflicts with what was there before it.
        let e = apply(&unmanaged, &deployment(2, "nginx"), &writer("f"), false).unwrap_err();
        assert!(
            e.message
                .contains("conflict with \"before-first-apply\" using apps/v1: .spec.replicas"),
            "{}",
            e.message
        );
    }

    #[test]
    fn apply_removes_what_an_applier_stops_sending() {
        let first = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "labels": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "c", "image": "i"}, {"name": "d", "image": "j"}]}});
        let second = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "labels": {"a": "1"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let old = of_config(&first).to_fields_v1();
        assert!(
            old.pointer("/f:spec/f:containers/k:{\"name\":\"d\"}/f:image")
                .is_some()
        );
        let doc = apply(&json!({}), &first, &writer("me"), false).unwrap();
        let doc = apply(&doc, &second, &writer("me"), false).unwrap();
        assert_eq!(without_managed_fields(&doc), second);
        // Another applier still owning label b keeps it.
        let doc = apply(&json!({}), &first, &writer("me"), false).unwrap();
        let other = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "labels": {"b": "2"}}});
        let doc = apply(&doc, &other, &writer("other"), false).unwrap();
        let doc = apply(&doc, &second, &writer("me"), false).unwrap();
        assert_eq!(doc.pointer("/metadata/labels/b"), Some(&json!("2")));
        assert_eq!(
            doc.pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn a_port_is_one_item_with_or_without_its_default_protocol() {
        let live = apply(&json!({}), &deployment(1, "nginx"), &writer("one"), false).unwrap();
        let mut config = deployment(1, "nginx");
        config["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
        let merged = apply(&live, &config, &writer("two"), false).unwrap();
        let ports = merged
            .pointer("/spec/template/spec/containers/0/ports")
            .unwrap();
        assert_eq!(ports, &json!([{"containerPort": 80, "protocol": "TCP"}]));
        // The same number over UDP is another item.
        config["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("UDP");
        let merged = apply(&live, &config, &writer("two"), false).unwrap();
        let ports = merged
            .pointer("/spec/template/spec/containers/0/ports")
            .unwrap();
        assert_eq!(ports.as_array().map(Vec::len), Some(2), "{ports}");
    }

    #[test]
    fn update_managers_are_capped_with_ancient_changes() {
        let mut prev =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
        record_update(None, &mut prev, &writer("creator"));
        for i in 0..15 {
            let mut next = prev.clone();
            next["data"][format!("k{i}")] = json!("v");
            let name = format!("m{i:02}");
            record_update(Some(&prev), &mut next, &writer(&name));
            prev = next;
        }
        let names = managers(&prev);
        assert_eq!(names.len(), MAX_UPDATERS, "{names:?}");
        assert!(
            names.contains(&"ancient-changes/Update".to_string()),
            "{names:?}"
        );
        assert!(names.contains(&"m14/Update".to_string()), "{names:?}");
    }

    #[test]
    fn a_manager_is_the_user_agents_product() {
        assert_eq!(manager_of(Some("helm"), Some("kubectl/v1.32")), "helm");
        assert_eq!(
            manager_of(None, Some("kubectl/v1.32.4 (linux/amd64) kubernetes/abc")),
            "kubectl"
        );
        assert_eq!(manager_of(Some(""), None), "unknown");
        assert_eq!(manager_of(None, Some(&"x".repeat(200))).len(), 128);
    }
}

//! The document builder: turns saphyr-parser's event stream into
//! `serde_json::Value`s plus a compact index of positions, enforcing the
//! [`YamlLimits`] as it goes.
//!
//! Nothing here recurses on the input's shape. Events are pulled one at a
//! time (saphyr's own `load` recurses, so it is not used) onto an explicit
//! stack, and building stops at the first event that breaks a limit, so a
//! 10,000-deep file costs no more than a 257-deep one.
//!
//! A document is first built as an arena of [`Node`]s — scalars, sequences,
//! mappings and aliases that point at their anchor's node — and then
//! converted to a `Value` in one iterative pass. Aliases are therefore free
//! until that pass, and their expanded size is known (and checked against
//! the budget) the moment they appear: an alias bomb is refused after a few
//! hundred events, having allocated nothing. The arena (minus the scalar
//! values and build-time bookkeeping) stays with the [`Document`] as its
//! [`Positions`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Tag};
use serde_json::{Map, Value};

use crate::diagnostic::{Code, Diagnostic, Span};

use super::{Document, YamlLimits, codes, scalar};

/// A string weighs one node per this many bytes in the alias budget, so
/// aliasing one huge string many times is caught like aliasing many nodes.
const BYTES_PER_NODE: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Seq,
    Map,
    /// An alias; `Node::first` is the id of the anchored node.
    Alias,
}

/// One node of a document, as kept for position lookups (36 bytes).
#[derive(Debug, Clone, Copy)]
struct Node {
    span: Span,
    /// Position of the mapping key this node is the value of; line 0 when
    /// it is not a mapping value.
    key_span: Span,
    key_start: u32,
    key_len: u32,
    /// Containers: their children are `Positions::children[first..][..len]`.
    /// Scalars: the index of their value while building. Aliases: the
    /// anchored node's id.
    first: u32,
    len: u32,
    kind: Kind,
}

/// Bookkeeping about a node that only building needs.
#[derive(Debug, Clone, Copy)]
struct Meta {
    /// Nodes this one expands to (aliases and merges included), saturating.
    size: u32,
    /// Nesting levels this one expands to (a scalar is 0).
    height: u32,
    /// Reached through an alias or a merge: cloned, not moved, into values.
    shared: bool,
    /// Complete: an alias to a node that is not is a recursive alias.
    closed: bool,
}

/// Where each value of a document sits in its file: the document's node
/// arena, with mapping keys' text in one shared buffer.
#[derive(Debug, Clone, Default)]
pub(super) struct Positions {
    nodes: Vec<Node>,
    children: Vec<u32>,
    keys: String,
    root: u32,
}

impl Positions {
    fn node(&self, id: u32) -> Option<&Node> {
        self.nodes.get(id as usize)
    }

    fn key(&self, node: &Node) -> &str {
        let start = node.key_start as usize;
        self.keys
            .get(start..start + node.key_len as usize)
            .unwrap_or_default()
    }

    fn kids(&self, node: &Node) -> &[u32] {
        let first = node.first as usize;
        self.children
            .get(first..first + node.len as usize)
            .unwrap_or_default()
    }

    /// The node itself, or the anchored node when it is an alias.
    fn resolved(&self, node: &Node) -> Option<(u32, Node)> {
        match node.kind {
            Kind::Alias => self.node(node.first).map(|target| (node.first, *target)),
            _ => None,
        }
    }

    /// The node a JSON pointer leads to, or its deepest existing ancestor;
    /// `true` when the whole pointer was found.
    fn find(&self, pointer: &str) -> Option<(&Node, bool)> {
        let mut node = self.node(self.root)?;
        let Some(rest) = pointer.strip_prefix('/') else {
            return Some((node, pointer.is_empty()));
        };
        for raw in rest.split('/') {
            let segment: Cow<'_, str> = if raw.contains('~') {
                Cow::Owned(raw.replace("~1", "/").replace("~0", "~"))
            } else {
                Cow::Borrowed(raw)
            };
            let container = self.resolved(node).map_or(*node, |(_, target)| target);
            let kids = self.kids(&container);
            let child = match container.kind {
                Kind::Map => kids
                    .iter()
                    .filter_map(|&id| self.node(id))
                    .find(|kid| self.key(kid) == segment),
                Kind::Seq => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|index| kids.get(index))
                    .and_then(|&id| self.node(id)),
                _ => None,
            };
            match child {
                Some(child) => node = child,
                None => return Some((node, false)),
            }
        }
        Some((node, true))
    }

    /// Position of the value at `pointer`, or of its nearest ancestor.
    pub(super) fn span_of(&self, pointer: &str) -> Option<Span> {
        self.find(pointer).map(|(node, _)| node.span)
    }

    /// Position of the mapping key whose value is at `pointer`.
    pub(super) fn key_span_of(&self, pointer: &str) -> Option<Span> {
        match self.find(pointer) {
            Some((node, true)) if node.key_span.line != 0 => Some(node.key_span),
            _ => None,
        }
    }
}

/// How a node hangs in its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Root,
    /// A sequence item or a mapping value.
    Child,
    /// The value of a merge key `<<`.
    Merge,
}

/// What an open mapping waits for next.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Key,
    Value { start: u32, len: u32, span: Span },
    MergeValue,
}

struct Frame {
    node: u32,
    role: Role,
    map: bool,
    expect: Expect,
    /// Where this container's children start in `DocBuilder::scratch`.
    start: usize,
    /// Values of merge keys, merged when the mapping closes.
    merges: Vec<u32>,
}

/// What limits count over a whole file.
#[derive(Default)]
struct Budget {
    /// Nodes that aliases and merges expanded to.
    expanded: u64,
    /// Nodes written in the file.
    nodes: usize,
    /// Weight built since the run's budget was last charged.
    unflushed: u64,
}

/// The run's budget is charged in batches of this many nodes (and for
/// every alias expansion at once), not per node.
const FLUSH_EVERY: u64 = 4096;

/// Charges what the file built since the last charge to the run's budget.
fn flush(
    file: &str,
    run: &crate::budget::Budget,
    budget: &mut Budget,
    at: Span,
) -> Result<(), Diagnostic> {
    let nodes = std::mem::take(&mut budget.unflushed);
    run.charge(nodes).map_err(|e| {
        e.diagnostic(codes::RUN_BUDGET, "this file")
            .in_file(file)
            .at(at)
    })
}

/// Parses all documents of one file. `text` is known to be UTF-8 without
/// NUL bytes, and shorter than 4 GiB.
pub(super) fn parse(
    file: &str,
    text: &str,
    limits: &YamlLimits,
    run: &crate::budget::Budget,
) -> Result<Vec<Document>, Diagnostic> {
    // Working memory, reused from one document (and file) to the next.
    let mut spare = SPARE.with(|cell| cell.take());
    let mut documents = Vec::new();
    let result = parse_into(file, text, limits, run, &mut spare, &mut documents);
    if spare.positions.nodes.capacity() <= MAX_SPARE_NODES {
        SPARE.with(|cell| cell.replace(spare));
    }
    result.map(|()| documents)
}

/// Largest working memory kept for the next file, in nodes.
const MAX_SPARE_NODES: usize = 1 << 16;

thread_local! {
    static SPARE: std::cell::RefCell<Buffers> = std::cell::RefCell::default();
}

fn parse_into(
    file: &str,
    text: &str,
    limits: &YamlLimits,
    run: &crate::budget::Budget,
    spare: &mut Buffers,
    documents: &mut Vec<Document>,
) -> Result<(), Diagnostic> {
    let mut parser = Parser::new_from_str(text);
    let mut index = 0;
    let mut budget = Budget::default();
    let mut last = Span { line: 1, column: 1 };
    let mut doc: Option<(Span, DocBuilder<'_>)> = None;
    let result = loop {
        let Some(next) = parser.next_event() else {
            break flush(file, run, &mut budget, last);
        };
        let (event, span) = match next {
            Ok(next) => next,
            Err(err) => break Err(scan_error(file, text, &err)),
        };
        let at = position(span.start);
        last = at;
        match event {
            Event::StreamEnd => break flush(file, run, &mut budget, at),
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart(_) => {
                if index >= limits.max_documents {
                    break Err(Diagnostic::error(
                        codes::TOO_MANY_DOCUMENTS,
                        format!(
                            "the file holds more than {} YAML documents",
                            limits.max_documents
                        ),
                    )
                    .in_file(file)
                    .at(at)
                    .with_hint("split it into several files"));
                }
                if let Some((_, unfinished)) = doc.take() {
                    *spare = unfinished.work;
                }
                doc = Some((
                    at,
                    DocBuilder::new(file, limits, run, std::mem::take(spare)),
                ));
            }
            Event::DocumentEnd => {
                let Some((start, builder)) = doc.take() else {
                    break Err(internal(file, at, "document end without a start"));
                };
                let (value, positions, buffers) = builder.finish();
                *spare = buffers;
                // Empty documents (`---` alone, comments only, `null`) are
                // skipped, as kubectl does.
                if !value.is_null() {
                    documents.push(Document {
                        file: file.to_owned(),
                        index,
                        span: start,
                        value,
                        positions,
                    });
                }
                index += 1;
            }
            event => {
                let Some((_, builder)) = doc.as_mut() else {
                    break Err(internal(file, at, "content outside a document"));
                };
                if let Err(err) = builder.event(event, at, &mut budget) {
                    break Err(err);
                }
            }
        }
    };
    // A document left unfinished by an error gives its buffers back.
    if let Some((_, unfinished)) = doc {
        *spare = unfinished.work;
    }
    result
}

/// Working memory of a document builder that is not part of its result.
#[derive(Default)]
struct Buffers {
    /// The positions being built; a compact copy goes with the document.
    positions: Positions,
    tasks: Vec<Task>,
    out: Vec<Value>,
    meta: Vec<Meta>,
    scalars: Vec<Value>,
    /// Children of the open containers, innermost last.
    scratch: Vec<u32>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, u32>,
}

struct DocBuilder<'a> {
    file: &'a str,
    limits: &'a YamlLimits,
    run: &'a crate::budget::Budget,
    positions: Positions,
    work: Buffers,
    root: Option<u32>,
}

impl<'a> DocBuilder<'a> {
    fn new(
        file: &'a str,
        limits: &'a YamlLimits,
        run: &'a crate::budget::Budget,
        mut work: Buffers,
    ) -> Self {
        let mut positions = std::mem::take(&mut work.positions);
        positions.nodes.clear();
        positions.children.clear();
        positions.keys.clear();
        positions.root = 0;
        work.tasks.clear();
        work.out.clear();
        work.meta.clear();
        work.scalars.clear();
        work.scratch.clear();
        work.stack.clear();
        work.anchors.clear();
        Self {
            file,
            limits,
            run,
            positions,
            work,
            root: None,
        }
    }

    fn error(&self, code: Code, at: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, message).in_file(self.file).at(at)
    }

    fn event(&mut self, event: Event<'_>, at: Span, budget: &mut Budget) -> Result<(), Diagnostic> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.scalar(text, style, anchor, tag.as_deref(), at, budget)
            }
            Event::SequenceStart(anchor, _) => self.open(false, anchor, at, budget),
            Event::MappingStart(anchor, _) => self.open(true, anchor, at, budget),
            Event::SequenceEnd | Event::MappingEnd => self.close(at, budget),
            Event::Alias(anchor) => self.alias(anchor, at, budget),
            _ => Ok(()),
        }
    }

    fn expecting_key(&self) -> bool {
        matches!(
            self.work.stack.last(),
            Some(Frame {
                map: true,
                expect: Expect::Key,
                ..
            })
        )
    }

    /// Records the key the open mapping's next value belongs to.
    fn set_key(&mut self, text: &str, at: Span) {
        let start = self.positions.keys.len() as u32;
        self.positions.keys.push_str(text);
        if let Some(frame) = self.work.stack.last_mut() {
            frame.expect = Expect::Value {
                start,
                len: text.len() as u32,
                span: at,
            };
        }
    }

    /// Counts one more node written in the file against `max_nodes`, and
    /// its `weight` against the run's budget.
    fn count_node(&self, budget: &mut Budget, at: Span, weight: u64) -> Result<(), Diagnostic> {
        budget.unflushed = budget.unflushed.saturating_add(weight);
        if budget.unflushed >= FLUSH_EVERY {
            flush(self.file, self.run, budget, at)?;
        }
        budget.nodes += 1;
        if budget.nodes > self.limits.max_nodes {
            return Err(self
                .error(
                    codes::TOO_MANY_NODES,
                    at,
                    format!(
                        "the file holds more than {} YAML nodes",
                        self.limits.max_nodes
                    ),
                )
                .with_hint("split it into smaller files"));
        }
        Ok(())
    }

    /// Creates a node where the parser is: as the value of the pending key,
    /// a sequence item, or the root. A node not in a key position.
    fn begin_node(&mut self, kind: Kind, at: Span, first: u32, meta: Meta) -> (u32, Role) {
        let mut node = Node {
            span: at,
            key_span: Span::default(),
            key_start: 0,
            key_len: 0,
            first,
            len: 0,
            kind,
        };
        let role = match self.work.stack.last_mut() {
            None => Role::Root,
            Some(frame) if !frame.map => Role::Child,
            Some(frame) => match std::mem::replace(&mut frame.expect, Expect::Key) {
                Expect::Value { start, len, span } => {
                    node.key_start = start;
                    node.key_len = len;
                    node.key_span = span;
                    Role::Child
                }
                Expect::MergeValue => Role::Merge,
                // Callers handle key positions before creating nodes.
                Expect::Key => Role::Child,
            },
        };
        let id = self.positions.nodes.len() as u32;
        self.positions.nodes.push(node);
        self.work.meta.push(meta);
        (id, role)
    }

    /// Hangs a finished node in its parent.
    fn complete(&mut self, id: u32, role: Role) {
        match role {
            Role::Root => self.root = Some(id),
            Role::Child => self.work.scratch.push(id),
            Role::Merge => {
                if let Some(frame) = self.work.stack.last_mut() {
                    frame.merges.push(id);
                }
            }
        }
    }

    fn scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        at: Span,
        budget: &mut Budget,
    ) -> Result<(), Diagnostic> {
        self.count_node(budget, at, crate::budget::string_weight(text.len()))?;
        let file = self.file;
        let bad = |message: String| {
            Diagnostic::error(codes::BAD_SCALAR, message)
                .in_file(file)
                .at(at)
        };
        if self.expecting_key() {
            let merge =
                style == ScalarStyle::Plain && text == "<<" && tag.is_none_or(scalar::is_merge_tag);
            if anchor != 0 {
                // An anchored key: a detached node, so `*alias :` can reuse it.
                let value = scalar::resolve(text.clone(), style, tag).map_err(bad)?;
                let id = self.positions.nodes.len() as u32;
                self.positions.nodes.push(Node {
                    span: at,
                    key_span: Span::default(),
                    key_start: 0,
                    key_len: 0,
                    first: self.work.scalars.len() as u32,
                    len: 0,
                    kind: Kind::Scalar,
                });
                self.work.meta.push(Meta {
                    size: 1,
                    height: 0,
                    shared: true,
                    closed: true,
                });
                self.work.scalars.push(value);
                self.work.anchors.insert(anchor, id);
            }
            if merge {
                if let Some(frame) = self.work.stack.last_mut() {
                    frame.expect = Expect::MergeValue;
                }
            } else {
                let key = scalar::key(&text, style, tag).map_err(bad)?;
                self.set_key(&key, at);
            }
            return Ok(());
        }
        let weight = 1 + text.len() / BYTES_PER_NODE;
        let value = scalar::resolve(text, style, tag).map_err(bad)?;
        let meta = Meta {
            size: u32::try_from(weight).unwrap_or(u32::MAX),
            height: 0,
            shared: false,
            closed: true,
        };
        let first = self.work.scalars.len() as u32;
        let (id, role) = self.begin_node(Kind::Scalar, at, first, meta);
        self.work.scalars.push(value);
        if anchor != 0 {
            self.work.anchors.insert(anchor, id);
        }
        self.complete(id, role);
        Ok(())
    }

    fn open(
        &mut self,
        map: bool,
        anchor: usize,
        at: Span,
        budget: &mut Budget,
    ) -> Result<(), Diagnostic> {
        if self.expecting_key() {
            return Err(self
                .error(
                    codes::COMPLEX_KEY,
                    at,
                    format!(
                        "a {} is used as a mapping key",
                        if map { "mapping" } else { "sequence" }
                    ),
                )
                .with_hint("Kubernetes objects and weir's kinds need string keys"));
        }
        if self.work.stack.len() >= self.limits.max_depth {
            return Err(self.too_deep(at));
        }
        self.count_node(budget, at, 1)?;
        let meta = Meta {
            size: 1,
            height: 1,
            shared: false,
            closed: false,
        };
        let kind = if map { Kind::Map } else { Kind::Seq };
        let (id, role) = self.begin_node(kind, at, 0, meta);
        if anchor != 0 {
            self.work.anchors.insert(anchor, id);
        }
        self.work.stack.push(Frame {
            node: id,
            role,
            map,
            expect: Expect::Key,
            start: self.work.scratch.len(),
            merges: Vec::new(),
        });
        Ok(())
    }

    fn too_deep(&self, at: Span) -> Diagnostic {
        self.error(
            codes::TOO_DEEP,
            at,
            format!("nesting is deeper than {} levels", self.limits.max_depth),
        )
        .with_hint("weir refuses deeper nesting to bound its cost; no Kubernetes object needs it")
    }

    fn charge(&self, budget: &mut Budget, nodes: u64, at: Span) -> Result<(), Diagnostic> {
        budget.expanded = budget.expanded.saturating_add(nodes);
        if budget.expanded > self.limits.max_alias_expansion_nodes {
            return Err(self
                .error(
                    codes::ALIAS_BUDGET,
                    at,
                    format!(
                        "aliases expand to more than {} nodes; this looks like an alias bomb \
                         (\"billion laughs\")",
                        self.limits.max_alias_expansion_nodes
                    ),
                )
                .with_hint(
                    "weir caps what YAML aliases may expand to; write the repeated content out \
                     instead of expanding it through aliases",
                ));
        }
        // What an alias expands to is built too: the run pays for it now.
        budget.unflushed = budget.unflushed.saturating_add(nodes);
        flush(self.file, self.run, budget, at)
    }

    fn alias(&mut self, anchor: usize, at: Span, budget: &mut Budget) -> Result<(), Diagnostic> {
        self.count_node(budget, at, 1)?;
        let target = self.work.anchors.get(&anchor).and_then(|&id| {
            let node = *self.positions.node(id)?;
            let meta = *self.work.meta.get(id as usize)?;
            Some((id, node, meta))
        });
        let Some((target_id, target, meta)) = target else {
            // saphyr's event API keeps anchor names across documents.
            return Err(self
                .error(
                    codes::SYNTAX,
                    at,
                    "invalid YAML: this alias refers to an anchor of an earlier document",
                )
                .with_hint("anchors do not cross `---`; define the anchor in this document"));
        };
        if !meta.closed {
            return Err(self
                .error(
                    codes::RECURSIVE_ALIAS,
                    at,
                    "this alias refers to a node that contains it",
                )
                .with_hint("a recursive alias would expand forever; remove it"));
        }
        if self.expecting_key() {
            if target.kind != Kind::Scalar {
                return Err(self
                    .error(
                        codes::COMPLEX_KEY,
                        at,
                        "an alias of a mapping or sequence is used as a mapping key",
                    )
                    .with_hint("Kubernetes objects and weir's kinds need string keys"));
            }
            let text = self
                .work
                .scalars
                .get(target.first as usize)
                .map(scalar::key_text)
                .unwrap_or_default();
            self.charge(budget, 1 + (text.len() / BYTES_PER_NODE) as u64, at)?;
            self.set_key(&text, at);
            return Ok(());
        }
        if self.work.stack.len() + meta.height as usize > self.limits.max_depth {
            return Err(self.too_deep(at));
        }
        let alias_meta = Meta {
            size: meta.size,
            height: meta.height,
            shared: false,
            closed: true,
        };
        let (id, role) = self.begin_node(Kind::Alias, at, target_id, alias_meta);
        if role != Role::Merge {
            // A merge is charged for what it merges, when its mapping closes.
            self.charge(budget, u64::from(meta.size), at)?;
        }
        if let Some(meta) = self.work.meta.get_mut(target_id as usize) {
            meta.shared = true;
        }
        self.complete(id, role);
        Ok(())
    }

    fn close(&mut self, at: Span, budget: &mut Budget) -> Result<(), Diagnostic> {
        let Some(frame) = self.work.stack.pop() else {
            return Err(internal(
                self.file,
                at,
                "end of a collection that was not open",
            ));
        };
        if frame.map {
            self.check_duplicates(frame.start)?;
            if !frame.merges.is_empty() {
                self.merge(&frame, budget)?;
            }
        }
        let Buffers { meta, scratch, .. } = &mut self.work;
        let kids = scratch.get(frame.start..).unwrap_or_default();
        let mut size: u32 = 1;
        let mut height: u32 = 0;
        for &kid in kids {
            if let Some(kid) = meta.get(kid as usize) {
                size = size.saturating_add(kid.size);
                height = height.max(kid.height);
            }
        }
        let children = &mut self.positions.children;
        let first = children.len() as u32;
        children.extend_from_slice(kids);
        if let Some(node) = self.positions.nodes.get_mut(frame.node as usize) {
            node.first = first;
            node.len = kids.len() as u32;
        }
        if let Some(meta) = meta.get_mut(frame.node as usize) {
            meta.size = size;
            meta.height = height + 1;
            meta.closed = true;
        }
        scratch.truncate(frame.start);
        self.complete(frame.node, frame.role);
        Ok(())
    }

    /// Refuses a mapping that holds the same key twice, naming both places.
    fn check_duplicates(&self, start: usize) -> Result<(), Diagnostic> {
        let positions = &self.positions;
        let ids = self.work.scratch.get(start..).unwrap_or_default();
        let mut duplicate = None;
        if ids.len() <= 16 {
            'outer: for (i, &later) in ids.iter().enumerate() {
                let Some(later) = positions.node(later) else {
                    continue;
                };
                let key = positions.key(later);
                for &earlier in &ids[..i] {
                    if let Some(earlier) = positions
                        .node(earlier)
                        .filter(|earlier| positions.key(earlier) == key)
                    {
                        duplicate = Some((earlier, later));
                        break 'outer;
                    }
                }
            }
        } else {
            let mut seen: HashMap<&str, &Node> = HashMap::with_capacity(ids.len());
            duplicate = ids
                .iter()
                .filter_map(|&id| positions.node(id))
                .find_map(|later| {
                    seen.insert(positions.key(later), later)
                        .map(|earlier| (earlier, later))
                });
        }
        match duplicate {
            None => Ok(()),
            Some((earlier, later)) => Err(self
                .error(
                    codes::DUPLICATE_KEY,
                    later.key_span,
                    format!(
                        "duplicate key `{}`: it is already defined at line {}, column {}",
                        positions.key(later),
                        earlier.key_span.line,
                        earlier.key_span.column
                    ),
                )
                .with_hint(
                    "a mapping may hold each key once; Kubernetes would silently keep only the \
                     last one",
                )),
        }
    }

    /// Adds the entries of the frame's merge keys (`<<: *defaults`,
    /// `<<: [*a, *b]`) that the mapping does not set itself; earlier sources
    /// win over later ones, as YAML's merge key says.
    fn merge(&mut self, frame: &Frame, budget: &mut Budget) -> Result<(), Diagnostic> {
        let positions = &self.positions;
        let resolve = |id: u32| -> Option<(u32, Node)> {
            let node = *positions.node(id)?;
            positions.resolved(&node).or(Some((id, node)))
        };
        let bad = |at| {
            self.error(
                codes::BAD_MERGE,
                at,
                "the merge key `<<` needs a mapping or a list of mappings",
            )
        };
        let mut sources = Vec::new();
        for &merge in &frame.merges {
            let Some((id, node)) = resolve(merge) else {
                continue;
            };
            match node.kind {
                Kind::Map => sources.push(id),
                Kind::Seq => {
                    for &item in positions.kids(&node) {
                        match resolve(item) {
                            Some((id, node)) if node.kind == Kind::Map => sources.push(id),
                            Some((_, node)) => return Err(bad(node.span)),
                            None => {}
                        }
                    }
                }
                _ => return Err(bad(node.span)),
            }
        }
        let explicit = self.work.scratch.get(frame.start..).unwrap_or_default();
        let mut present: HashSet<&str> = explicit
            .iter()
            .filter_map(|&id| positions.node(id).map(|node| positions.key(node)))
            .collect();
        let mut merged = Vec::new();
        let mut cost: u64 = 0;
        for source in sources {
            let Some(source) = positions.node(source) else {
                continue;
            };
            for &kid in positions.kids(source) {
                if let Some(node) = positions.node(kid)
                    && present.insert(positions.key(node))
                {
                    merged.push(kid);
                    let size = self.work.meta.get(kid as usize).map_or(1, |meta| meta.size);
                    cost = cost.saturating_add(u64::from(size));
                }
            }
        }
        drop(present);
        let at = positions
            .node(frame.node)
            .map(|n| n.span)
            .unwrap_or_default();
        for &kid in &merged {
            if let Some(meta) = self.work.meta.get_mut(kid as usize) {
                meta.shared = true;
            }
        }
        self.work.scratch.extend_from_slice(&merged);
        self.charge(budget, cost, at)
    }

    /// The document's value and positions, and the buffers for the next
    /// document. Iterative: depth was bounded while building, but the
    /// conversion does not rely on it.
    fn finish(mut self) -> (Value, Positions, Buffers) {
        let Some(root) = self.root else {
            self.work.positions = self.positions;
            return (Value::Null, Positions::default(), self.work);
        };
        self.positions.root = root;
        let positions = &self.positions;
        let Buffers {
            meta,
            scalars,
            tasks,
            out,
            ..
        } = &mut self.work;
        tasks.push(Task::Build {
            id: root,
            shared: false,
        });
        while let Some(task) = tasks.pop() {
            match task {
                Task::Build { mut id, shared } => {
                    let Some(mut node) = positions.node(id).copied() else {
                        out.push(Value::Null);
                        continue;
                    };
                    let mut shared = shared || meta.get(id as usize).is_some_and(|m| m.shared);
                    if let Some((target, target_node)) = positions.resolved(&node) {
                        id = target;
                        node = target_node;
                        shared = true;
                    }
                    match node.kind {
                        Kind::Scalar => out.push(match scalars.get_mut(node.first as usize) {
                            Some(value) if shared => value.clone(),
                            Some(value) => std::mem::take(value),
                            None => Value::Null,
                        }),
                        Kind::Seq | Kind::Map => {
                            tasks.push(if node.kind == Kind::Seq {
                                Task::Seq {
                                    len: node.len as usize,
                                }
                            } else {
                                Task::Map { id }
                            });
                            for &kid in positions.kids(&node).iter().rev() {
                                tasks.push(Task::Build { id: kid, shared });
                            }
                        }
                        // An alias of an alias cannot be written in YAML.
                        Kind::Alias => out.push(Value::Null),
                    }
                }
                Task::Seq { len } => {
                    let items = if len == out.len() {
                        std::mem::take(out)
                    } else {
                        out.split_off(out.len().saturating_sub(len))
                    };
                    out.push(Value::Array(items));
                }
                Task::Map { id } => {
                    let kids = positions
                        .node(id)
                        .map(|node| positions.kids(node))
                        .unwrap_or_default();
                    let values = out.drain(out.len().saturating_sub(kids.len())..);
                    let mut map = Map::with_capacity(kids.len());
                    for (&kid, value) in kids.iter().zip(values) {
                        if let Some(kid) = positions.node(kid) {
                            map.insert(positions.key(kid).to_owned(), value);
                        }
                    }
                    out.push(Value::Object(map));
                }
            }
        }
        let value = out.pop().unwrap_or_default();
        // The document keeps an exact-size copy (it lives as long as
        // validation runs); the working buffers serve the next document.
        let compact = Positions {
            nodes: positions.nodes.clone(),
            children: positions.children.clone(),
            keys: positions.keys.clone(),
            root,
        };
        self.work.positions = self.positions;
        (value, compact, self.work)
    }
}

/// Steps of the post-order walk that turns a document's arena into a
/// `Value`: build a node's children onto the output stack, then gather them
/// into the node's value.
enum Task {
    Build { id: u32, shared: bool },
    Seq { len: usize },
    Map { id: u32 },
}

/// A saphyr position (1-based line, 0-based column) as a [`Span`].
fn position(marker: Marker) -> Span {
    Span {
        line: u32::try_from(marker.line()).unwrap_or(u32::MAX),
        column: u32::try_from(marker.col())
            .unwrap_or(u32::MAX)
            .saturating_add(1),
    }
}

fn internal(file: &str, at: Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        codes::INTERNAL,
        format!("internal error in the YAML loader: {what}"),
    )
    .in_file(file)
    .at(at)
    .with_hint("this is a bug in weir; please report it with the file")
}

/// The parser's error as a diagnostic, with a hint for tab indentation.
fn scan_error(file: &str, text: &str, err: &ScanError) -> Diagnostic {
    let at = position(*err.marker());
    let info = err.info();
    if info.contains("recursion limit") {
        return Diagnostic::error(
            codes::TOO_DEEP,
            "flow collections (`[`, `{`) are nested too deeply",
        )
        .in_file(file)
        .at(at)
        .with_hint("weir refuses deeper nesting to bound its cost; no Kubernetes object needs it");
    }
    if info.contains("tab") {
        // The parser may report the line before the offending one: point at
        // the first line from there that is indented with a tab.
        let tab_at = text
            .lines()
            .enumerate()
            .skip((at.line as usize).saturating_sub(1))
            .take(3)
            .find_map(|(index, line)| {
                let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
                line[..indent].find('\t').map(|column| Span {
                    line: index as u32 + 1,
                    column: column as u32 + 1,
                })
            });
        return Diagnostic::error(
            codes::TAB_INDENT,
            format!("a tab is used for indentation ({info})"),
        )
        .in_file(file)
        .at(tab_at.unwrap_or(at))
        .with_hint("YAML allows only spaces for indentation; replace the tabs with spaces");
    }
    Diagnostic::error(codes::SYNTAX, format!("invalid YAML: {info}"))
        .in_file(file)
        .at(at)
}

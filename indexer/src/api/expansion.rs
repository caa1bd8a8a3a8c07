//! A bound on the size of a GraphQL document once its fragments are
//! expanded, checked before anything else walks it.
//!
//! A fragment may spread another one twice, and that one the next twice:
//! 22 fragments in 1 KB then stand for 2^21 selections. async-graphql's
//! own checks (recursive depth, directives, then every validation rule)
//! each walk the document with every spread expanded, so such a query
//! once cost 24 s of CPU and 600 MiB before any limit said no. This
//! module counts the expanded selections with each fragment's size
//! memoised, so the count costs one pass over the text as written, and
//! refuses the request before async-graphql sees the document.
//!
//! It runs as an [`Extension`]'s `prepare_request`, the first hook of a
//! request, for HTTP and WebSocket operations alike; the document it
//! parses is kept in the request, so nothing is parsed twice.

use std::{collections::HashMap, sync::Arc};

use async_graphql::{
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest},
    parser::types::{ExecutableDocument, SelectionSet},
    Name, Request, ServerError, ServerResult,
};

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExpansionError {
    /// More selections than the limit once fragments are expanded.
    #[error(
        "the query is too large once its fragments are expanded: more than {limit} selections"
    )]
    TooLarge {
        /// The limit that was passed.
        limit: usize,
    },
    /// A fragment spreads itself, directly or through others.
    #[error("fragment {0} spreads itself")]
    Cycle(String),
}

/// Counts the selections of every operation in `doc` with fragment
/// spreads expanded, stopping as soon as the count passes `limit`.
/// Spreads of unknown fragments count as nothing (validation names them).
pub(crate) fn check(doc: &ExecutableDocument, limit: usize) -> Result<usize, ExpansionError> {
    let mut counter = Counter {
        doc,
        limit,
        sizes: HashMap::new(),
    };
    let mut total = 0usize;
    for (_, operation) in doc.operations.iter() {
        let size = counter.selection_set(&operation.node.selection_set.node)?;
        total = counter.add(total, size)?;
    }
    Ok(total)
}

/// A fragment's state while counting: its size once known.
#[derive(Clone, Copy)]
enum Size {
    Counting,
    Known(usize),
}

struct Counter<'a> {
    doc: &'a ExecutableDocument,
    limit: usize,
    sizes: HashMap<&'a Name, Size>,
}

impl<'a> Counter<'a> {
    fn add(&self, a: usize, b: usize) -> Result<usize, ExpansionError> {
        let sum = a.saturating_add(b);
        if sum > self.limit {
            return Err(ExpansionError::TooLarge { limit: self.limit });
        }
        Ok(sum)
    }

    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<usize, ExpansionError> {
        use async_graphql::parser::types::Selection;
        let mut size = 0;
        for item in &set.items {
            let here = match &item.node {
                Selection::Field(field) => {
                    let below = self.selection_set(&field.node.selection_set.node)?;
                    self.add(1, below)?
                }
                Selection::InlineFragment(inline) => {
                    self.selection_set(&inline.node.selection_set.node)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(&spread.node.fragment_name.node)?
                }
            };
            size = self.add(size, here)?;
        }
        Ok(size)
    }

    fn fragment(&mut self, name: &'a Name) -> Result<usize, ExpansionError> {
        match self.sizes.get(name) {
            Some(Size::Known(size)) => return Ok(*size),
            Some(Size::Counting) => return Err(ExpansionError::Cycle(name.to_string())),
            None => {}
        }
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Ok(0);
        };
        self.sizes.insert(name, Size::Counting);
        let size = self.selection_set(&fragment.node.selection_set.node)?;
        self.sizes.insert(name, Size::Known(size));
        Ok(size)
    }
}

/// The extension that refuses documents over `limit` expanded selections.
pub(crate) struct ExpansionLimit {
    pub(crate) limit: usize,
}

impl ExtensionFactory for ExpansionLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ExpansionLimitExtension { limit: self.limit })
    }
}

struct ExpansionLimitExtension {
    limit: usize,
}

#[async_trait::async_trait]
impl Extension for ExpansionLimitExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let doc = request.parsed_query()?;
        if let Err(e) = check(doc, self.limit) {
            return Err(ServerError::new(e.to_string(), None));
        }
        next.run(ctx, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    /// `query { ...F0 }` where each fragment spreads the next `fan` times.
    pub(crate) fn bomb(depth: usize, fan: usize) -> String {
        let mut q = String::from("query { ...F0 }");
        for i in 0..depth {
            let spreads = vec![format!("...F{}", i + 1); fan].join(" ");
            q.push_str(&format!(" fragment F{i} on QueryRoot {{ {spreads} }}"));
        }
        q.push_str(&format!(" fragment F{depth} on QueryRoot {{ __typename }}"));
        q
    }

    #[test]
    fn counts_fields_and_expanded_fragments() {
        let doc = parse_query("{ a { b c } ...F } fragment F on Q { d { e } }").unwrap();
        assert_eq!(check(&doc, 100), Ok(5));
        let doc = parse_query(bomb(3, 2)).unwrap();
        assert_eq!(check(&doc, 100), Ok(8));
    }

    #[test]
    fn a_fragment_bomb_is_refused_at_once() {
        let doc = parse_query(bomb(31, 2)).unwrap();
        assert_eq!(
            check(&doc, 5_000),
            Err(ExpansionError::TooLarge { limit: 5_000 })
        );
        // Just under the limit passes: 2^12 = 4,096.
        assert_eq!(check(&parse_query(bomb(12, 2)).unwrap(), 5_000), Ok(4_096));
    }

    #[test]
    fn cycles_and_unknown_fragments() {
        let doc =
            parse_query("{ ...A } fragment A on Q { ...B } fragment B on Q { ...A }").unwrap();
        assert!(matches!(check(&doc, 100), Err(ExpansionError::Cycle(_))));
        let doc = parse_query("{ a ...Missing }").unwrap();
        assert_eq!(check(&doc, 100), Ok(1));
    }
}

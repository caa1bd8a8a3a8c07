//! GraphQL at `/graphql`: the REST queries, plus a subscription of confirmed
//! events that reads the same event log as the WebSocket stream. GraphiQL is
//! served on `GET /graphql`.

use async_graphql::{Context, EmptyMutation, ErrorExtensions, Object, Schema, Subscription};
use futures::Stream;

use super::{
    query::{self, Mailbox, Page},
    ApiError, ApiState,
};
use crate::store::{KeyRecord, Message, StreamCursor, StreamEvent};

/// The schema type.
pub type CairnSchema = Schema<QueryRoot, EmptyMutation, SubscriptionRoot>;

/// Builds the schema with limits on depth and complexity.
pub fn schema(state: ApiState) -> CairnSchema {
    Schema::build(QueryRoot, EmptyMutation, SubscriptionRoot)
        .data(state)
        .limit_depth(8)
        .limit_complexity(500)
        .finish()
}

fn gql(e: ApiError) -> async_graphql::Error {
    async_graphql::Error::new(e.message()).extend_with(|_, ext| ext.set("code", e.code()))
}

/// Queries.
#[derive(Debug)]
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// Messages to `address`, oldest first.
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        address: String,
        after: Option<String>,
        limit: Option<u32>,
    ) -> async_graphql::Result<Page> {
        query::page(
            ctx.data_unchecked::<ApiState>(),
            Mailbox::Inbox,
            &address,
            after.as_deref(),
            limit,
        )
        .await
        .map_err(gql)
    }

    /// Messages from `address`, oldest first.
    async fn sent(
        &self,
        ctx: &Context<'_>,
        address: String,
        after: Option<String>,
        limit: Option<u32>,
    ) -> async_graphql::Result<Page> {
        query::page(
            ctx.data_unchecked::<ApiState>(),
            Mailbox::Sent,
            &address,
            after.as_deref(),
            limit,
        )
        .await
        .map_err(gql)
    }

    /// One message by id.
    async fn message(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Message> {
        query::message(ctx.data_unchecked::<ApiState>(), &id)
            .await
            .map_err(gql)
    }

    /// The registered key of `address`.
    async fn key(&self, ctx: &Context<'_>, address: String) -> async_graphql::Result<KeyRecord> {
        query::key(ctx.data_unchecked::<ApiState>(), &address)
            .await
            .map_err(gql)
    }
}

/// Subscriptions.
#[derive(Debug)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Confirmed (and retracted) messages to `address`, after `after` or from now.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        address: String,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<StreamEvent>>> {
        let state = ctx.data_unchecked::<ApiState>().clone();
        let recipient = query::recipient_key(query::address(&address).map_err(gql)?);
        let start = match query::stream_cursor(after.as_deref()).map_err(gql)? {
            Some(c) => c,
            None => StreamCursor(
                state
                    .store
                    .last_event_seq()
                    .await
                    .map_err(|e| gql(e.into()))?,
            ),
        };
        let announced = state.events.clone();
        let batch = state.stream.batch;
        Ok(futures::stream::unfold(
            (
                state,
                recipient,
                start,
                announced,
                std::collections::VecDeque::new(),
            ),
            move |(state, recipient, mut after, mut announced, mut buffered)| async move {
                loop {
                    if let Some(event) = buffered.pop_front() {
                        return Some((Ok(event), (state, recipient, after, announced, buffered)));
                    }
                    match state.store.events_after(&recipient, after, batch).await {
                        Ok(events) if !events.is_empty() => {
                            after = StreamCursor(events.last().map_or(after.0, |e| e.seq()));
                            buffered.extend(events);
                        }
                        Ok(_) => announced.changed().await.ok()?,
                        Err(e) => {
                            return Some((
                                Err(gql(e.into())),
                                (state, recipient, after, announced, buffered),
                            ))
                        }
                    }
                }
            },
        ))
    }
}

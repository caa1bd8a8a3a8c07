//! GraphQL at `/graphql`: the REST queries, plus a subscription of confirmed
//! events that reads the same event log as the WebSocket stream. GraphiQL is
//! served on `GET /graphql`.
//!
//! A GraphQL request is cheap to send and can be dear to serve, so every
//! cost is bounded before anything runs: the body (which bounds parsing),
//! one operation per request (no batches, no multipart), depth, and
//! complexity, where a list field costs its `limit` times its selection.
//! Before those, the document's size with every fragment expanded is
//! bounded in one memoised pass, since async-graphql's own checks expand
//! fragments on every walk (a 1 KB fragment bomb once cost 24 s of CPU).
//! The response is bounded too, and transport errors are the API's
//! `{code, message}`.

use async_graphql::{
    http::ALL_WEBSOCKET_PROTOCOLS, Context, EmptyMutation, ErrorExtensions, Object, Schema,
    Subscription,
};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    body::Bytes,
    extract::{
        rejection::BytesRejection,
        ws::{CloseFrame, Message as WsMessage},
        ConnectInfo, WebSocketUpgrade,
    },
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use std::net::SocketAddr;

use futures::{SinkExt, Stream, StreamExt};

use super::{
    query::{self, Changes, Mailbox, Page},
    ApiError, ApiState, PerIpRate,
};
use crate::store::{ChannelRecord, KeyRecord, Message, StreamCursor, StreamEvent};

/// The schema type.
pub type CairnSchema = Schema<QueryRoot, EmptyMutation, SubscriptionRoot>;

/// Largest request body (and WebSocket message) `/graphql` accepts. It
/// bounds the parser's work: 32 KiB hold every real query many times over.
pub(crate) const MAX_BODY: usize = 32 * 1024;
/// Largest response `/graphql` sends.
pub(crate) const MAX_RESPONSE: usize = 2 * 1024 * 1024;
/// Largest query complexity: each field costs 1, and a page costs its
/// `limit` times its selection, so this is about how many fields one
/// request may return.
pub(crate) const MAX_COMPLEXITY: usize = 5_000;
/// Most selections a document may hold once its fragments are expanded;
/// checked before any other walk of the document (see `expansion`).
pub(crate) const MAX_EXPANDED: usize = MAX_COMPLEXITY;
/// Deepest selection nesting.
pub(crate) const MAX_DEPTH: usize = 8;
/// Subscriptions one GraphQL WebSocket connection may hold at once.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 16;

/// The subscriptions a connection may still open; each holds a permit.
#[derive(Debug, Clone)]
struct SubscriptionBudget(std::sync::Arc<tokio::sync::Semaphore>);

/// What a root field that queries the database costs beyond its selection,
/// so that aliases cannot turn one request into thousands of queries.
const QUERY_COST: usize = 50;

/// Builds the schema with limits on depth and complexity, checked before
/// execution.
pub fn schema(state: ApiState) -> CairnSchema {
    Schema::build(QueryRoot, EmptyMutation, SubscriptionRoot)
        .extension(super::expansion::ExpansionLimit {
            limit: MAX_EXPANDED,
        })
        .data(state)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(MAX_DEPTH * 4)
        .limit_directives(4)
        .finish()
}

/// What a page of `limit` costs: the query, and the selection once per message.
fn page_cost(limit: Option<u32>, child_complexity: usize) -> usize {
    (limit.unwrap_or(query::DEFAULT_LIMIT) as usize)
        .saturating_mul(child_complexity)
        .saturating_add(QUERY_COST)
}

/// `POST /graphql`: one JSON operation, within the limits above.
pub(super) async fn http(
    schema: CairnSchema,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "POST /graphql takes one operation as application/json (no multipart)",
        ));
    }
    let body = body?;
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "batch_not_supported",
            "send one operation per request, not a batch",
        ));
    }
    let request: async_graphql::Request = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("not a GraphQL request: {e}"),
        )
    })?;
    let (status, bytes) = off_the_workers(schema, request).await?;
    if bytes.len() > MAX_RESPONSE {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "response_too_large",
            format!("the response would exceed {MAX_RESPONSE} bytes; ask for fewer fields or a smaller limit"),
        ));
    }
    Ok((status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// GraphQL operations over HTTP running at once, each on a blocking thread.
static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(16);

/// How long one operation may take, parsing and validation included.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Why work given to the blocking pool brought no answer.
#[derive(Debug)]
enum Unfinished {
    /// The slots are closed: the node is shutting down.
    Closed,
    /// The work panicked.
    Panicked(tokio::task::JoinError),
    /// It ran past [`DEADLINE`].
    Late,
}

impl std::fmt::Display for Unfinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => f.write_str("the node is shutting down"),
            Self::Panicked(e) => write!(f, "the operation failed: {e}"),
            Self::Late => write!(
                f,
                "the operation ran past its {} s deadline",
                DEADLINE.as_secs()
            ),
        }
    }
}

/// Runs `work` on the blocking pool, in one of the [`RUNNING`] slots and
/// within [`DEADLINE`], so that a costly GraphQL document never holds an
/// async worker (and `/healthz`, streams and other requests with it).
async fn on_the_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unfinished> {
    let _turn = RUNNING.acquire().await.map_err(|_| Unfinished::Closed)?;
    match tokio::time::timeout(DEADLINE, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(panicked)) => Err(Unfinished::Panicked(panicked)),
        Err(_) => {
            metrics::counter!("cairn_graphql_deadline_total").increment(1);
            Err(Unfinished::Late)
        }
    }
}

/// Runs `request` (parse, validation, execution and the answer's JSON) on
/// the blocking pool ([`on_the_blocking_pool`]). Returns the status and the
/// JSON.
async fn off_the_workers(
    schema: CairnSchema,
    request: async_graphql::Request,
) -> Result<(StatusCode, Vec<u8>), ApiError> {
    let runtime = tokio::runtime::Handle::current();
    let answer = on_the_blocking_pool(move || {
        let response = runtime.block_on(schema.execute(request));
        // Parse and validation errors (too deep, too complex) leave no data
        // and name no field; a resolver's error names its field.
        let refused = response.is_err()
            && response.data == async_graphql::Value::Null
            && response.errors.iter().all(|e| e.path.is_empty());
        let status = match refused {
            true => StatusCode::BAD_REQUEST,
            false => StatusCode::OK,
        };
        serde_json::to_vec(&response).map(|bytes| (status, bytes))
    })
    .await;
    match answer {
        Ok(answer) => answer.map_err(|e| ApiError::internal("GraphQL response", e)),
        Err(late @ Unfinished::Late) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            late.to_string(),
        )),
        Err(Unfinished::Closed) => Err(ApiError::internal("GraphQL slots", Unfinished::Closed)),
        Err(panicked) => Err(ApiError::internal("GraphQL operation", panicked)),
    }
}

/// `GET /graphql/ws`: subscriptions, with every message bounded like a body,
/// and each document parsed off the async workers ([`ParsedOffTheWorkers`]).
/// Each operation a client starts on the socket spends a request of its
/// address's allowance ([`PerIpRate`]) and one of the connection's own
/// ([`OPERATIONS_BURST`], [`OPERATIONS_PER_SECOND`]): past either, the node
/// closes the socket with 4429 and says which.
pub(super) async fn websocket(
    schema: CairnSchema,
    rate: PerIpRate,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    protocol: Result<GraphQLProtocol, StatusCode>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let protocol = protocol.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_protocol",
            "name graphql-transport-ws or graphql-ws in Sec-WebSocket-Protocol",
        )
    })?;
    Ok(upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_BODY)
        .max_frame_size(MAX_BODY)
        .read_buffer_size(super::stream::SOCKET_BUFFER)
        .write_buffer_size(super::stream::SOCKET_BUFFER)
        .on_upgrade(move |socket| async move {
            let mut data = async_graphql::Data::default();
            data.insert(SubscriptionBudget(std::sync::Arc::new(
                tokio::sync::Semaphore::new(MAX_SUBSCRIPTIONS),
            )));
            let (mut sink, incoming) = socket.split();
            // The server's frames and a refusal's close frame share one writer.
            let (out, mut outgoing) = tokio::sync::mpsc::channel::<WsMessage>(16);
            let incoming = metered(incoming, peer.ip(), rate, out.clone());
            let served = GraphQLWebSocket::new_with_pair(
                tokio_util::sync::PollSender::new(out),
                incoming,
                ParsedOffTheWorkers(schema),
                protocol,
            )
            .with_data(data)
            .serve();
            let write = async move {
                while let Some(message) = outgoing.recv().await {
                    let closing = matches!(message, WsMessage::Close(_));
                    if sink.send(message).await.is_err() || closing {
                        break;
                    }
                }
            };
            tokio::join!(served, write);
        }))
}

/// The schema as a GraphQL WebSocket runs it: each operation's document is
/// parsed, and its expansion bounded, on the blocking pool within
/// [`DEADLINE`], sharing the HTTP operations' slots. Only a document that
/// passed reaches the async workers, where async-graphql validates it (its
/// size and expansion bounded, so validation is too) and runs it. The
/// parsed document stays in the request, so it is parsed once.
#[derive(Clone)]
struct ParsedOffTheWorkers(CairnSchema);

impl async_graphql::Executor for ParsedOffTheWorkers {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        match parsed_off_the_workers(request).await {
            Ok(request) => self.0.execute(request).await,
            Err(refused) => refused,
        }
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<std::sync::Arc<async_graphql::Data>>,
    ) -> futures::stream::BoxStream<'static, async_graphql::Response> {
        let schema = self.0.clone();
        futures::stream::once(parsed_off_the_workers(request))
            .flat_map(move |parsed| match parsed {
                Ok(request) => {
                    async_graphql::Executor::execute_stream(&schema, request, session_data.clone())
                }
                Err(refused) => futures::stream::once(std::future::ready(refused)).boxed(),
            })
            .boxed()
    }
}

/// Parses `request`'s document and bounds its expansion on the blocking
/// pool ([`on_the_blocking_pool`]); the request with its document parsed,
/// or the refusal to send.
async fn parsed_off_the_workers(
    mut request: async_graphql::Request,
) -> Result<async_graphql::Request, async_graphql::Response> {
    let checked = on_the_blocking_pool(move || {
        let checked = match request.parsed_query() {
            Ok(doc) => super::expansion::check(doc, MAX_EXPANDED)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.message),
        };
        checked.map(|()| request)
    })
    .await
    .unwrap_or_else(|unfinished| Err(unfinished.to_string()));
    checked.map_err(|message| {
        async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(message, None)])
    })
}

/// Operations one GraphQL WebSocket may start at once, and then per second.
pub(crate) const OPERATIONS_BURST: u32 = 50;
/// See [`OPERATIONS_BURST`].
pub(crate) const OPERATIONS_PER_SECOND: u32 = 10;

/// `incoming`, ended at the first operation over `ip`'s request rate or
/// the connection's own, after queuing a close frame that says so on `out`.
fn metered(
    incoming: impl futures::Stream<Item = Result<WsMessage, axum::Error>>,
    ip: std::net::IpAddr,
    rate: PerIpRate,
    out: tokio::sync::mpsc::Sender<WsMessage>,
) -> impl futures::Stream<Item = Result<WsMessage, axum::Error>> {
    use governor::{Quota, RateLimiter};
    let own = RateLimiter::direct(
        Quota::per_second(std::num::NonZeroU32::new(OPERATIONS_PER_SECOND).expect("non-zero"))
            .allow_burst(std::num::NonZeroU32::new(OPERATIONS_BURST).expect("non-zero")),
    );
    incoming.take_while(move |message| {
        let refusal = match message {
            Ok(WsMessage::Text(text)) if starts_operation(text) => {
                if own.check().is_err() {
                    Some(format!(
                        "rate_limited: one connection may start {OPERATIONS_BURST} operations, \
                         then {OPERATIONS_PER_SECOND} a second"
                    ))
                } else {
                    rate.check(ip)
                        .err()
                        .map(|wait| format!("rate_limited: too many requests; retry in {wait} s"))
                }
            }
            _ => None,
        };
        if let Some(reason) = &refusal {
            metrics::counter!("cairn_graphql_ws_refused_total").increment(1);
            let _ = out.try_send(WsMessage::Close(Some(CloseFrame {
                code: 4429,
                reason: reason.clone().into(),
            })));
        }
        std::future::ready(refusal.is_none())
    })
}

/// Whether a client's message starts an operation: `subscribe`
/// (graphql-transport-ws) or `start` (graphql-ws).
fn starts_operation(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Kind>(text).is_ok_and(|k| k.kind == "subscribe" || k.kind == "start")
}

fn gql(e: ApiError) -> async_graphql::Error {
    async_graphql::Error::new(e.message()).extend_with(|_, ext| ext.set("code", e.code()))
}

/// Queries.
#[derive(Debug)]
pub struct QueryRoot;

/// A list query's position arguments, as `query::ListFrom`.
fn list_from<'a>(
    after: &'a Option<String>,
    before: &'a Option<String>,
    order: &'a Option<String>,
) -> query::ListFrom<'a> {
    query::ListFrom {
        after: after.as_deref(),
        before: before.as_deref(),
        order: order.as_deref(),
    }
}

#[Object]
impl QueryRoot {
    /// Messages to `address`, oldest first; newest first with
    /// `order: "newest"`, then `before` the previous page's `next`.
    #[graphql(complexity = "page_cost(limit, child_complexity)")]
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        address: String,
        after: Option<String>,
        before: Option<String>,
        order: Option<String>,
        limit: Option<u32>,
    ) -> async_graphql::Result<Page> {
        query::page(
            ctx.data_unchecked::<ApiState>(),
            Mailbox::Inbox(None),
            &address,
            list_from(&after, &before, &order),
            limit,
        )
        .await
        .map_err(gql)
    }

    /// Confirmed messages to `address` and retractions, in the stream's
    /// order (`after` is a stream cursor): for clients that poll, since a
    /// batch whose manifest came late is inserted in `inbox` at its chain
    /// position, behind such a client's cursor, but comes next here.
    #[graphql(complexity = "page_cost(limit, child_complexity)")]
    async fn changes(
        &self,
        ctx: &Context<'_>,
        address: String,
        after: Option<String>,
        limit: Option<u32>,
    ) -> async_graphql::Result<Changes> {
        let state = ctx.data_unchecked::<ApiState>();
        let recipient = query::recipient_key(query::address(&address).map_err(gql)?);
        query::changes(state, &recipient, None, after.as_deref(), limit)
            .await
            .map_err(gql)
    }

    /// Messages from `address`, oldest first (or newest first, as `inbox`).
    #[graphql(complexity = "page_cost(limit, child_complexity)")]
    async fn sent(
        &self,
        ctx: &Context<'_>,
        address: String,
        after: Option<String>,
        before: Option<String>,
        order: Option<String>,
        limit: Option<u32>,
    ) -> async_graphql::Result<Page> {
        query::page(
            ctx.data_unchecked::<ApiState>(),
            Mailbox::Sent,
            &address,
            list_from(&after, &before, &order),
            limit,
        )
        .await
        .map_err(gql)
    }

    /// One channel: metadata, members, admins, policy and epoch.
    #[graphql(complexity = "QUERY_COST + child_complexity")]
    async fn channel(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<ChannelRecord> {
        query::channel_record(ctx.data_unchecked::<ApiState>(), &id)
            .await
            .map_err(gql)
    }

    /// The channels `member` belongs to.
    #[graphql(complexity = "QUERY_COST * 10 + child_complexity")]
    async fn channels(
        &self,
        ctx: &Context<'_>,
        member: String,
    ) -> async_graphql::Result<Vec<ChannelRecord>> {
        query::channels_of(ctx.data_unchecked::<ApiState>(), &member)
            .await
            .map_err(gql)
    }

    /// A channel's messages, oldest first (or newest first, as `inbox`).
    #[graphql(complexity = "page_cost(limit, child_complexity)")]
    async fn channel_messages(
        &self,
        ctx: &Context<'_>,
        id: String,
        after: Option<String>,
        before: Option<String>,
        order: Option<String>,
        limit: Option<u32>,
    ) -> async_graphql::Result<Page> {
        query::channel_page(
            ctx.data_unchecked::<ApiState>(),
            &id,
            list_from(&after, &before, &order),
            limit,
        )
        .await
        .map_err(gql)
    }

    /// One message by id.
    #[graphql(complexity = "QUERY_COST + child_complexity")]
    async fn message(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Message> {
        query::message(ctx.data_unchecked::<ApiState>(), &id)
            .await
            .map_err(gql)
    }

    /// The registered key of `address`.
    #[graphql(complexity = "QUERY_COST + child_complexity")]
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
        // The same caps as the WebSocket stream: per address, and per connection.
        let refused = |message: String| {
            gql(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                message,
            ))
        };
        let permit = match ctx.data_opt::<SubscriptionBudget>() {
            Some(budget) => Some(budget.0.clone().try_acquire_owned().map_err(|_| {
                refused(format!(
                    "a connection may hold {MAX_SUBSCRIPTIONS} subscriptions at once"
                ))
            })?),
            None => None,
        };
        // No session on this socket: its subscriptions are anonymous.
        let slot = super::stream::take_slot(&state, &recipient, false).map_err(gql)?;
        let held = (permit, slot);
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
        // Subscribe first, then catch up: see `crate::fanout`.
        let live = state.fanout.subscribe(&recipient);
        let follower = Follower {
            state,
            recipient,
            after: start,
            live,
            catching_up: true,
            buffered: Default::default(),
            _held: held,
        };
        Ok(futures::stream::unfold(follower, |mut f| async move {
            let next = f.next().await?;
            Some((next, f))
        }))
    }
}

/// One GraphQL subscription's place in the event log. It holds the
/// permit and the address slot for as long as it lives.
struct Follower {
    state: ApiState,
    recipient: String,
    after: StreamCursor,
    live: crate::fanout::Subscription,
    catching_up: bool,
    buffered: std::collections::VecDeque<StreamEvent>,
    _held: (
        Option<tokio::sync::OwnedSemaphorePermit>,
        super::slots::Slot<String>,
    ),
}

impl Follower {
    /// The next event after the cursor; `None` when the node shuts down.
    async fn next(&mut self) -> Option<async_graphql::Result<StreamEvent>> {
        use crate::fanout::Live;
        loop {
            if let Some(event) = self.buffered.pop_front() {
                return Some(Ok(event));
            }
            if self.catching_up {
                let batch = self.state.stream.batch;
                match self
                    .state
                    .store
                    .events_after(&self.recipient, self.after, batch)
                    .await
                {
                    Ok(events) if !events.is_empty() => {
                        self.after = StreamCursor(events.last().map_or(self.after.0, |e| e.seq()));
                        self.buffered.extend(events);
                    }
                    Ok(_) => self.catching_up = false,
                    Err(e) => return Some(Err(gql(e.into()))),
                }
                continue;
            }
            match self.live.recv().await {
                Live::Event(published) if published.event.seq() > self.after.0 => {
                    self.after = StreamCursor(published.event.seq());
                    self.buffered.push_back(published.event.clone());
                }
                Live::Event(_) => {}
                Live::Dropped => {
                    self.live = self.state.fanout.subscribe(&self.recipient);
                    self.catching_up = true;
                }
                Live::Closed => return None,
            }
        }
    }
}

//! GETs over plain HTTP whose bodies are received into their final buffer.
//!
//! object_store's HTTP client (reqwest over hyper) reads a response into
//! its own buffer and hands out chunks of it, which `get` then copies into
//! the object's aligned buffer. For 16 MiB objects that copy is a quarter
//! of the client's CPU. This connector answers itself the GETs to `http://`
//! endpoints that say where their body goes: a GET whose body is kept
//! whole ([`Keep`]) is received into one aligned buffer of the
//! Content-Length, taken from the pool; one whose body fills a region of
//! a batch or of a split object, handed to the request ([`Destination`]),
//! is received into that region, which the caller gets back filled. The response says where its body was received
//! ([`ReceivedAt`]), and the caller keeps it there instead of copying it.
//! A GET that may be answered at its head ([`Early`]) gets its body as it
//! is read, into a region the caller places once it knows the size.
//! Connections are kept alive and reused; a kept connection that turns out
//! closed is replaced once.
//!
//! Everything else (HTTPS, proxies, HTTP/2, other methods) goes to
//! object_store's own client.
//!
//! One concern per file: [`place`] (the marks: the receive-in-place
//! contract), `connector` (routing, object_store's side), `connections`
//! (kept-alive sockets), `exchange` (one request and its body), `later`
//! (a body received when it is read), `receive` (socket into memory), `wire`
//! (the HTTP/1.1 format) and `proxies` (the environment's proxies).

mod connections;
mod connector;
mod exchange;
pub mod lanes;
mod later;
mod limiter;
pub mod place;
mod proxies;
mod receive;
pub mod unreachable;
mod wire;

pub use connector::Connector;
pub use later::Early;
pub use limiter::LimiterState;
pub use place::{Destination, Keep, ReceivedAt};

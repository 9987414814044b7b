//! `tests/vectors/wire-v1.json`, compiled into the targets: its clock, policy and chain, and
//! each vector's frame and expected verdict.

use ems_core::StaticChain;
use ems_core::{BlockRef, Context, Policy};
use serde_json::Value;
use std::sync::OnceLock;

const JSON: &str = include_str!("../../tests/vectors/wire-v1.json");

/// One vector: a frame, the context it is validated in, and the verdict.
#[derive(Clone, Debug)]
pub struct Vector {
    /// What it shows.
    pub name: String,
    /// The wire bytes.
    pub frame: Vec<u8>,
    /// Live or history.
    pub context: Context,
    /// `Ok(digest hex)` if accepted, else the reject code.
    pub verdict: Result<String, String>,
}

/// The vectors file, parsed.
pub struct Vectors {
    /// The validators' clock.
    pub now: u64,
    /// The policy every vector is judged by.
    pub policy: Policy,
    /// The chain every vector is judged against.
    pub blocks: Vec<BlockRef>,
    /// Every vector.
    pub list: Vec<Vector>,
}

impl Vectors {
    /// The chain, as a [`ems_core::ChainView`].
    pub fn chain(&self) -> StaticChain {
        StaticChain::from_blocks(self.blocks.clone())
    }

    /// The vector with exactly these bytes in this context, if any.
    pub fn find(&self, frame: &[u8], context: Context) -> Option<&Vector> {
        self.list
            .iter()
            .find(|v| v.frame == frame && v.context == context)
    }
}

/// The vectors (parsed once).
pub fn get() -> &'static Vectors {
    static VECTORS: OnceLock<Vectors> = OnceLock::new();
    VECTORS.get_or_init(parse)
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn parse() -> Vectors {
    let doc: Value = serde_json::from_str(JSON).expect("vectors JSON");
    let policy: Policy = serde_json::from_value(doc["policy"].clone()).expect("vectors policy");
    let blocks = doc["chain"]["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|b| BlockRef {
            height: b["height"].as_u64().expect("height"),
            prefix: hex_of(&b["prefix"]).try_into().expect("4-byte prefix"),
            time: b["time"].as_u64().expect("time"),
        })
        .collect();
    let list = doc["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .map(|v| {
            let expect = &v["expect"];
            Vector {
                name: v["name"].as_str().expect("name").to_string(),
                frame: hex_of(&v["frame"]),
                context: match v["context"].as_str() {
                    Some("history") => Context::History,
                    _ => Context::Live,
                },
                verdict: if expect["accept"].as_bool().expect("accept") {
                    Ok(expect["digest"].as_str().expect("digest").to_string())
                } else {
                    Err(expect["reason"].as_str().expect("reason").to_string())
                },
            }
        })
        .collect();
    Vectors {
        now: doc["now"].as_u64().expect("now"),
        policy,
        blocks,
        list,
    }
}

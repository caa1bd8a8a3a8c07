//! This machine's own speed, measured in the same run as a figure: secp256k1
//! public-key recoveries per second on one core, with libsecp256k1 as the
//! gateway and the indexer use it. A throughput figure divided by it reads
//! the same on a faster or a slower machine, and batched posting costs about
//! three ECDSA operations per post end to end (the client signs, the gateway
//! and the indexer recover), which bounds it from above.

use std::time::{Duration, Instant};

use secp256k1::{Message, SecretKey, SECP256K1};

/// Recoveries per second on this thread, over about `secs` seconds.
pub(crate) fn recoveries_per_core_second(secs: f64) -> f64 {
    let key = SecretKey::from_byte_array([7; 32]).unwrap();
    let message = Message::from_digest([9; 32]);
    let signature = SECP256K1.sign_ecdsa_recoverable(message, &key);
    let budget = Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < budget {
        for _ in 0..100 {
            std::hint::black_box(SECP256K1.recover_ecdsa(message, &signature).unwrap());
        }
        done += 100;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

/// Prints the machine's speed as the line `bench-compare` reads.
pub(crate) fn report() -> f64 {
    let speed = recoveries_per_core_second(2.0);
    println!("machine speed: {speed:.0} secp256k1 recoveries per second per core");
    speed
}

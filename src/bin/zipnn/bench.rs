//! `zipnn bench`: ratio and speed of compressing and decoding files in memory.

use std::path::Path;
use std::time::Instant;

use zipnn_wasm::format::znw::{self, Options};
use zipnn_wasm::Limits;

use crate::args::dtype_choice;
use crate::compress::{default_candidate, default_chunk};
use crate::input::read_input;
use crate::inspect::ratio;
use crate::{each_input, fail, Args, Fail};

pub(crate) fn bench(a: &Args) -> Result<(), Fail> {
    let threads = a.threads.unwrap_or(1);
    let dtype = dtype_choice(a)?;
    // The table starts once there is a row for it: a first file that cannot be read is
    // the one line of output.
    let mut started = false;
    let one = |input: &str| {
        let data = read_input(input)?;
        if !started {
            outln!("| file | MB | ratio | compress MB/s | decompress MB/s (warm) | decompress MB/s (fresh) |");
            outln!("|---|---:|---:|---:|---:|---:|");
            started = true;
        }
        let opts = Options {
            dtype,
            threads,
            tans: a.best,
            chunk_size: default_chunk(a.best, &data),
            ..Options::default()
        };
        let mb = data.len() as f64 / 1e6;
        let (mut packed, mut tc) = (Vec::new(), f64::MAX);
        // What `compress` writes and the time it takes (with --best, the smaller of it and
        // the default's result).
        let default = default_candidate(a, &opts);
        for _ in 0..3 {
            let t = Instant::now();
            packed = znw::compress(&data, &opts)?;
            if let Some(default) = &default {
                let plain = znw::compress(&data, default)?;
                if plain.len() < packed.len() {
                    packed = plain;
                }
            }
            tc = tc.min(t.elapsed().as_secs_f64());
        }
        let mut warm = vec![0u8; data.len()];
        let (mut tw, mut tf) = (f64::MAX, f64::MAX);
        for _ in 0..5 {
            let t = Instant::now();
            znw::decompress_into(&packed, &mut warm, threads)?;
            tw = tw.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let fresh = znw::decompress(&packed, &Limits::default(), threads)?;
            tf = tf.min(t.elapsed().as_secs_f64());
            if fresh != data || warm != data {
                return fail("round trip mismatch");
            }
        }
        let name = Path::new(input)
            .file_name()
            .map_or(input.to_string(), |n| n.to_string_lossy().into_owned());
        outln!(
            "| {name} | {mb:.2} | {} | {:.0} | {:.0} | {:.0} |",
            ratio(packed.len() as u64, data.len() as u64),
            mb / tc,
            mb / tw,
            mb / tf
        );
        Ok(())
    };
    each_input(a, "failed the benchmark", one)
}

//! The embedding sum (`ops::embedding`) and the row gather (`ops::gather`): forward and backward.

use super::{f64s, fd_check, up};
use crate::common;
use crate::common::assert_close;
use crate::common::random;
use crate::common::read_tensors;
use bert_wgpu::gpu::Recorder;
use bert_wgpu::ops::embedding;
use bert_wgpu::ops::gather;

#[test]
fn embedding_sum_and_row_gather() {
    let Some(gpu) = common::gpu() else { return };
    let (vocab, positions, types, c) = (11, 7, 2, 8);
    let word = random(vocab * c, 12, 1.0);
    let pos = random(positions * c, 13, 1.0);
    let ty = random(types * c, 14, 1.0);
    let ids = [3u32, 10, 0, 5, 5];
    let pids = [0u32, 1, 2, 6, 3];
    let tids = [0u32, 1, 1, 0, 1];
    let up = |v: &[f32], rows: usize| gpu.upload(v, &[rows, c], "table").unwrap();
    let (wt, pt, tt) = (up(&word, vocab), up(&pos, positions), up(&ty, types));
    let buf = |v: &[u32]| gpu.upload_u32(v, "ids").unwrap();
    let (ib, pb, tb) = (buf(&ids), buf(&pids), buf(&tids));
    let out = gpu.zeros(&[ids.len(), c], "out").unwrap();
    let picked = gpu.zeros(&[2, c], "picked").unwrap();
    let index = buf(&[4, 1]);
    let mut rec = Recorder::new(&gpu);
    let tokens = embedding::TokenIds {
        ids: &ib,
        positions: &pb,
        types: &tb,
    };
    embedding::forward(&mut rec, &tokens, &wt, &pt, &tt, &out);
    gather::forward(&mut rec, &index, &out, &picked);
    let got = read_tensors(rec, &[&out, &picked]);
    let want: Vec<f32> = (0..ids.len() * c)
        .map(|i| {
            let (t, ch) = (i / c, i % c);
            word[ids[t] as usize * c + ch] + pos[pids[t] as usize * c + ch] + ty[tids[t] as usize * c + ch]
        })
        .collect();
    assert_close("embedding", &got[0], &want, 1e-6);
    let want_rows: Vec<f32> = [4usize, 1]
        .iter()
        .flat_map(|&r| want[r * c..(r + 1) * c].to_vec())
        .collect();
    assert_close("gather", &got[1], &want_rows, 0.0);
}

// ---- Embedding and gather --------------------------------------------------------------------------------

#[test]
fn embedding_and_gather_backward_finite_differences() {
    // Both are linear maps, so this checks the index bookkeeping of the references.
    let (rows, c) = (5, 4);
    let ids = [3u32, 1, 3, 0, 4, 3];
    let table = f64s(&random(rows * c, 60, 1.0));
    let demb = f64s(&random(ids.len() * c, 61, 1.0));
    let lookup = |t: &[f64]| -> f64 {
        (0..ids.len() * c)
            .map(|i| demb[i] * t[ids[i / c] as usize * c + i % c])
            .sum()
    };
    let grad = embedding_backward(&ids, &demb, rows, c, None);
    fd_check("embedding backward", lookup, &table, &grad, 62);

    let index = [4u32, 0, 2];
    let inp = f64s(&random(6 * c, 63, 1.0));
    let dout = f64s(&random(index.len() * c, 64, 1.0));
    let gather = |x: &[f64]| -> f64 {
        (0..index.len() * c)
            .map(|i| dout[i] * x[index[i / c] as usize * c + i % c])
            .sum()
    };
    fd_check(
        "gather backward",
        gather,
        &inp,
        &gather_backward(&index, &dout, 6, c),
        65,
    );
}

#[test]
fn embedding_backward_matches_reference() {
    let Some(gpu) = common::gpu() else { return };
    let (vocab, positions, types, c, max_tokens) = (11, 7, 2, 8, 16);
    let word_acc = random(vocab * c, 66, 1.0); // the gradients accumulate onto these
    let pos_acc = random(positions * c, 67, 1.0);
    let type_acc = random(types * c, 68, 1.0);
    let indices: Vec<embedding::GradIndex> = (0..3)
        .map(|_| embedding::GradIndex::alloc(&gpu, max_tokens).unwrap())
        .collect();
    // Two batches through the same (preallocated) indices: the second is shorter, so stale entries of the
    // first must not leak into it.
    let batches: [(&[u32], &[u32], &[u32]); 2] = [
        (
            &[3, 10, 0, 5, 5, 0, 3, 3, 9],
            &[0, 1, 2, 3, 4, 5, 6, 0, 1],
            &[0, 0, 1, 1, 1, 0, 0, 1, 1],
        ),
        (&[7, 0, 7, 2, 7], &[0, 1, 2, 3, 4], &[1, 1, 1, 1, 1]),
    ];
    for (batch, (ids, pids, tids)) in batches.iter().enumerate() {
        let tokens = ids.len();
        let demb = random(tokens * c, 69 + batch as u64, 1.0);
        let demb_t = up(&gpu, &demb, &[tokens, c]);
        let word = up(&gpu, &word_acc, &[vocab, c]);
        let pos = up(&gpu, &pos_acc, &[positions, c]);
        let ty = up(&gpu, &type_acc, &[types, c]);
        let pad = Some(0); // the word table skips [PAD] (padding_idx), as Hugging Face's BERT
        indices[0].write_skipping(&gpu.queue, ids, pad).unwrap();
        indices[1].write(&gpu.queue, pids).unwrap();
        indices[2].write(&gpu.queue, tids).unwrap();
        let mut rec = Recorder::new(&gpu);
        for (index, table) in indices.iter().zip([&word, &pos, &ty]) {
            embedding::backward(&mut rec, index, &demb_t, table);
        }
        let got = read_tensors(rec, &[&word, &pos, &ty]);
        let d = f64s(&demb);
        for (k, (name, acc, id_list, rows, skip)) in [
            ("word", &word_acc, ids, vocab, pad),
            ("position", &pos_acc, pids, positions, None),
            ("token type", &type_acc, tids, types, None),
        ]
        .into_iter()
        .enumerate()
        {
            let want: Vec<f32> = embedding_backward(id_list, &d, rows, c, skip)
                .iter()
                .zip(acc.iter())
                .map(|(&g, &a)| (a as f64 + g) as f32)
                .collect();
            // At most 5 f32 additions of values <= 1 per entry.
            assert_close(&format!("d{name} batch {batch}"), &got[k], &want, 1e-6);
        }
    }
    let too_many = vec![0u32; max_tokens + 1];
    assert!(
        indices[0].write(&gpu.queue, &too_many).is_err(),
        "more tokens than allocated is an error"
    );
}

#[test]
fn gather_backward_writes_or_accumulates() {
    let Some(gpu) = common::gpu() else { return };
    let (tokens, c) = (6, 8);
    let index = [4u32, 1, 5];
    let inverse = gather::inverse_index(&index, tokens);
    assert_eq!(inverse, vec![-1, 1, -1, -1, 0, 2]);
    let inverse_buf = gpu.upload_u32(bytemuck::cast_slice(&inverse), "inverse").unwrap();
    let dout = random(index.len() * c, 70, 1.0);
    let before = random(tokens * c, 71, 1.0);
    let dout_t = up(&gpu, &dout, &[index.len(), c]);
    let scattered = gather_backward(&index, &f64s(&dout), tokens, c);
    for accumulate in [false, true] {
        let dinp = up(&gpu, &before, &[tokens, c]);
        let mut rec = Recorder::new(&gpu);
        gather::backward(&mut rec, &inverse_buf, &dout_t, &dinp, accumulate);
        let got = read_tensors(rec, &[&dinp]).remove(0);
        let want: Vec<f32> = scattered
            .iter()
            .zip(&before)
            .map(|(&g, &b)| if accumulate { (b as f64 + g) as f32 } else { g as f32 })
            .collect();
        // A copy is exact; accumulating is one f32 addition.
        let tol = if accumulate { 1e-7 } else { 0.0 };
        assert_close(&format!("gather backward accumulate={accumulate}"), &got, &want, tol);
    }
}

// ---- the reference: plain loops in f64, written for clarity, not speed ----

/// Embedding table gradient: dtable[ids[t]] += demb[t] for tokens whose id is not `skip`.
pub(crate) fn embedding_backward(ids: &[u32], demb: &[f64], rows: usize, c: usize, skip: Option<u32>) -> Vec<f64> {
    let mut d = vec![0.0; rows * c];
    for (t, &id) in ids.iter().enumerate().filter(|(_, &id)| Some(id) != skip) {
        for ch in 0..c {
            d[id as usize * c + ch] += demb[t * c + ch];
        }
    }
    d
}

/// Gather backward: dinp (tokens, c) with dinp[index[i]] = dout[i], 0 elsewhere.
pub(crate) fn gather_backward(index: &[u32], dout: &[f64], tokens: usize, c: usize) -> Vec<f64> {
    let mut d = vec![0.0; tokens * c];
    for (i, &t) in index.iter().enumerate() {
        for ch in 0..c {
            d[t as usize * c + ch] += dout[i * c + ch];
        }
    }
    d
}

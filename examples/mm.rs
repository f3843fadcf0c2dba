use bert_wgpu::gpu::{Gpu, Recorder};
use bert_wgpu::ops::{matmul, Act};
fn main() {
    pollster::block_on(async {
        let gpu = Gpu::new().await.unwrap();
        println!("{} subgroup={}", gpu.info.name, gpu.subgroup_matmul);
        for &(m, n, k) in &[
            (1024usize, 1024usize, 1024usize),
            (1024, 768, 768),
            (1024, 3072, 768),
            (1024, 768, 3072),
        ] {
            let x = gpu.upload(&vec![0.01; m * k], &[m, k], "x").unwrap();
            let w = gpu.upload(&vec![0.02; n * k], &[n, k], "w").unwrap();
            let y = gpu.zeros(&[m, n], "y").unwrap();
            let run = |reps: usize| {
                let mut rec = Recorder::new(&gpu);
                for _ in 0..reps {
                    matmul::linear(&mut rec, &x, &w, None, Act::None, &y);
                }
                pollster::block_on(rec.submit_and_read(&[(&y.buf, 0, 1)])).unwrap()
            };
            let _ = run(1);
            let t = std::time::Instant::now();
            let r = run(3);
            let dt = t.elapsed().as_secs_f64() / 3.0;
            println!(
                "{m}x{n}x{k}: {:.2} GFLOP/s  y0={}",
                2.0 * (m * n * k) as f64 / dt / 1e9,
                r[0][0]
            );
        }
    });
}

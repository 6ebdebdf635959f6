// Times ONNX Runtime's forward of an ONNX model (CPU), for bench/compare_onnxruntime.sh.
// usage: node ort_forward.js MODEL.onnx THREADS STEPS   (NODE_PATH must reach onnxruntime-node)
// Prints one JSON line: {"threads", "median_ms"}. Inputs are seeded pseudo-random floats
// of the model's input shapes (symbolic dimensions are not supported here).
const ort = require('onnxruntime-node');

async function main() {
  const [file, threadsArg, stepsArg] = process.argv.slice(2);
  const threads = parseInt(threadsArg, 10), steps = parseInt(stepsArg, 10);
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = {};
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  for (const name of session.inputNames) {
    const meta = session.inputMetadata.find((m) => m.name === name);
    const dims = meta.shape;
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; ++i) data[i] = rand();
    feeds[name] = new ort.Tensor('float32', data, dims);
  }
  for (let i = 0; i < 5; ++i) await session.run(feeds);
  const times = [];
  for (let i = 0; i < steps; ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({threads, median_ms: times[Math.floor(times.length / 2)]}));
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});

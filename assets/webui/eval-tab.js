// The Evaluate & Predict tab: do_predict on an eval dataset (a child `lmforge train --do_predict`, BLEU/ROUGE or
// the metrics list) and benchmarks (a child `lmforge eval`), both run and watched like the Train tab's runs.
'use strict';
(() => {
  const board = window.LMFORGE_BOARD;
  const { api, t, $ } = board;

  Object.assign(window.BOARD_TEXT.en, {
    eval: 'Evaluate & Predict', predict: 'Predict (do_predict)', eval_dataset: 'Eval dataset',
    predict_with_generate: 'Save predictions', metrics: 'Metrics',
    custom_metric: 'Custom metric (.mjs)', start_predict: 'Start prediction', benchmark: 'Benchmark (lmforge eval)',
    task: 'Task', task_dir: 'Task dir', n_shot: 'Few-shot examples', start_eval: 'Start evaluation',
    metric: 'Metric', value: 'Value', prompt: 'Prompt', prediction: 'Prediction', label: 'Label', scores: 'Scores',
    subject: 'Subject', questions: 'Questions', correct: 'Correct', accuracy: 'Accuracy',
    rows_of: 'first {shown} of {total} predictions',
  });
  Object.assign(window.BOARD_TEXT.zh, {
    eval: '评估与预测', predict: '预测（do_predict）', eval_dataset: '评估数据集',
    predict_with_generate: '保存预测结果', metrics: '评估指标',
    custom_metric: '自定义指标（.mjs）', start_predict: '开始预测', benchmark: '基准评测（lmforge eval）',
    task: '评测任务', task_dir: '任务目录', n_shot: '示例数量', start_eval: '开始评测',
    metric: '指标', value: '数值', prompt: '提示词', prediction: '预测', label: '标签', scores: '得分',
    subject: '科目', questions: '题目数', correct: '正确数', accuracy: '准确率',
    rows_of: '共 {total} 条预测，显示前 {shown} 条',
  });

  const NUMBER = /^-?\d+(\.\d*)?([eE][-+]?\d+)?$/;
  const num = (id) => {
    const v = $(id).value.trim();
    return NUMBER.test(v) ? Number(v) : v;
  };
  const say = (id, message, isError = false) => {
    $(id).textContent = message;
    $(id).className = isError ? 'warning' : '';
  };

  function table(el, head, rows) {
    el.innerHTML = '';
    if (rows.length === 0) return;
    const tr = el.insertRow();
    for (const h of head) {
      const th = document.createElement('th');
      th.textContent = h;
      tr.append(th);
    }
    for (const row of rows) {
      const r = el.insertRow();
      for (const cell of row) {
        const td = r.insertCell();
        td.textContent = typeof cell === 'number' ? String(Math.round(cell * 10000) / 10000) : String(cell);
        if (typeof cell === 'string' && cell.length > 24) td.className = 'text';
      }
    }
  }

  /** One of the tab's two runs (predict, bench): its form, its event stream, its progress and results. */
  function runPanel(prefix, kind, collect, showResults) {
    let events = null;
    let last = null;
    const outputDir = () => $(`${prefix}_output_dir`).value.trim();

    function show(s) {
      const ended = last && last.status === 'running' && s.status !== 'running';
      last = s;
      const p = s.progress;
      $(`${prefix}-progress`).value = s.status === 'finished' ? 100 : p ? p.percentage : 0;
      const clock = p && p.elapsed_time ? `: ${p.elapsed_time} < ${p.remaining_time}` : '';
      const steps = p ? ` ${p.current_steps}/${p.total_steps}${clock}` : '';
      const ck = s.checkpoints.length > 0 ? ` · ${t('checkpoints')}: ${s.checkpoints.join(', ')}` : '';
      $(`${prefix}-progress-label`).textContent = `${t(s.status)}${steps}${ck}`;
      $(`${prefix}-progress-label`).dataset.status = s.status;
      $(`${prefix}-log`).textContent = s.logTail;
      $(`${prefix}-log`).scrollTop = $(`${prefix}-log`).scrollHeight;
      $(`${prefix}-start`).disabled = s.status === 'running';
      $(`${prefix}-abort`).disabled = s.status !== 'running';
      if (s.status === 'finished' && (ended || !$(`${prefix}-progress-label`).dataset.shown)) {
        $(`${prefix}-progress-label`).dataset.shown = 'true';
        showResults(s.outputDir).catch((e) => say(`${prefix}-message`, e.message, true));
      }
    }

    function watch() {
      if (events) events.close();
      events = null;
      last = null;
      delete $(`${prefix}-progress-label`).dataset.shown;
      if (!outputDir()) return;
      events = new EventSource(`/api/train/events?output_dir=${encodeURIComponent(outputDir())}`);
      events.onmessage = (m) => show(JSON.parse(m.data));
    }

    function ensureOutputDir() {
      if (!outputDir()) $(`${prefix}_output_dir`).value = board.defaultOutputDir().replace(/\/train_/, `/${prefix}_`);
    }

    $(`${prefix}-cmd`).onclick = async () => {
      ensureOutputDir();
      try {
        const { command } = await api('/api/command', { kind, args: collect() });
        $(`${prefix}-command`).textContent = command;
        $(`${prefix}-command`).hidden = false;
      } catch (e) {
        say(`${prefix}-message`, e.message, true);
      }
    };
    $(`${prefix}-start`).onclick = async () => {
      ensureOutputDir();
      try {
        const s = await api('/api/train/start', { kind, args: collect() });
        say(`${prefix}-message`, '');
        watch();
        show(s);
      } catch (e) {
        say(`${prefix}-message`, e.message, true);
      }
    };
    $(`${prefix}-abort`).onclick = () =>
      api('/api/train/abort', { output_dir: outputDir() }).catch((e) => say(`${prefix}-message`, e.message, true));
    $(`${prefix}_output_dir`).onchange = watch;
    return {
      relabel: () => {
        if (!last) return;
        delete $(`${prefix}-progress-label`).dataset.shown; // the result tables' headings too
        show(last);
      },
    };
  }

  function predictArgs() {
    const args = {
      ...board.modelArgs(),
      stage: 'sft',
      do_train: false,
      do_predict: true,
      predict_with_generate: $('predict_with_generate').checked,
      dataset_dir: $('dataset_dir').value.trim(),
      eval_dataset: [...$('eval_dataset').selectedOptions].map((o) => o.value).join(','),
      max_samples: num('predict_max_samples'),
      per_device_eval_batch_size: num('per_device_eval_batch_size'),
      cutoff_len: num('predict_cutoff_len'),
      max_new_tokens: num('predict_max_new_tokens'),
      top_p: num('predict_top_p'),
      temperature: num('predict_temperature'),
      metrics: $('predict_metrics').value.trim(),
      output_dir: $('predict_output_dir').value.trim(),
    };
    if ($('custom_metric').value.trim()) args.custom_metric = $('custom_metric').value.trim();
    return args;
  }

  function benchArgs() {
    const { finetuning_type: _unused, quantization_bit: _q, ...model } = board.modelArgs();
    return {
      ...model,
      task: $('bench_task').value.trim(),
      task_dir: $('bench_task_dir').value.trim(),
      lang: $('bench_lang').value,
      n_shot: num('bench_n_shot'),
      batch_size: num('bench_batch_size'),
      output_dir: $('bench_output_dir').value.trim(),
    };
  }

  async function showPredictResults(outputDir) {
    const r = await api(`/api/predict/results?output_dir=${encodeURIComponent(outputDir)}`);
    table($('predict-metrics'), [t('metric'), t('value')], Object.entries(r.metrics || {}));
    const scoreText = (s) => Object.entries(s).map(([k, v]) => `${k}: ${typeof v === 'number' ? Math.round(v * 100) / 100 : v}`).join('\n');
    table(
      $('predict-table'),
      ['#', t('prompt'), t('prediction'), t('label'), t('scores')],
      r.rows.map((row) => [row.index, row.prompt, row.predict, row.label, scoreText(row.scores)]),
    );
    const caption = $('predict-table').createCaption();
    caption.textContent = t('rows_of', { shown: r.rows.length, total: r.total });
  }

  async function showBenchResults(outputDir) {
    const { results } = await api(`/api/eval/results?output_dir=${encodeURIComponent(outputDir)}`);
    if (!results) return;
    table(
      $('bench-results'),
      [t('subject'), t('questions'), t('correct'), t('accuracy')],
      [
        ...results.scores.map(([name, acc]) => [name, '', '', acc]),
        ...results.subjects.map((s) => [s.subject, s.questions, s.correct, s.accuracy]),
      ],
    );
  }

  /** The eval datasets are those of the Train tab's data dir. */
  async function loadEvalDatasets() {
    const dir = $('dataset_dir').value.trim();
    const select = $('eval_dataset');
    const chosen = new Set([...select.selectedOptions].map((o) => o.value));
    select.innerHTML = '';
    if (!dir) return;
    try {
      const { datasets } = await api(`/api/datasets?dir=${encodeURIComponent(dir)}`);
      for (const d of datasets) {
        const o = new Option(d.name, d.name);
        o.selected = chosen.has(d.name);
        select.add(o);
      }
    } catch (e) {
      say('predict-message', e.message, true);
    }
  }

  const panels = [
    runPanel('predict', 'train', predictArgs, showPredictResults),
    runPanel('bench', 'eval', benchArgs, showBenchResults),
  ];
  board.onLanguage(() => {
    for (const p of panels) p.relabel();
  });
  $('tab-eval').onclick = () => {
    board.selectTab('eval');
    loadEvalDatasets();
  };
})();

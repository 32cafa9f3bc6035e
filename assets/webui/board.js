// The board's page: plain browser JavaScript over the JSON routes of src/webui/app.ts (no framework, no build).
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem('lmforge-lang') || 'en';
  let info = null;
  let events = null;
  let implied = null;
  let lastSnapshot = null;
  let history = [];
  let chatAbort = null;
  const languageHooks = [];

  const t = (key, vars = {}) =>
    (window.BOARD_TEXT[lang][key] || window.BOARD_TEXT.en[key] || key).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? '');

  function applyLanguage() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    $('lang').value = lang;
    updateTemplateWarning();
    if (lastSnapshot) showRun(lastSnapshot);
    for (const hook of languageHooks) hook();
  }

  async function api(path, body) {
    const res = await fetch(path, body === undefined ? {} : {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
    if (!res.ok) throw new Error(json.error || `HTTP ${res.status}`);
    return json;
  }

  function say(message, isError = false) {
    const el = $('train-message');
    el.textContent = message;
    el.className = isError ? 'warning' : '';
  }

  const TRAIN_FIELDS = [
    'stage', 'dataset_dir', 'learning_rate', 'num_train_epochs', 'max_steps', 'max_grad_norm', 'max_samples',
    'cutoff_len', 'per_device_train_batch_size', 'gradient_accumulation_steps', 'lr_scheduler_type', 'val_size',
    'logging_steps', 'save_steps', 'warmup_steps', 'output_dir',
  ];
  const GROUP_FIELDS = {
    lora: ['lora_rank', 'lora_alpha', 'lora_dropout', 'lora_target'],
    freeze: ['freeze_trainable_layers', 'freeze_trainable_modules'],
    rlhf: ['pref_beta', 'pref_loss'],
  };
  const NUMBER = /^-?\d+(\.\d*)?([eE][-+]?\d+)?$/;

  function value(id) {
    const v = $(id).value.trim();
    return NUMBER.test(v) ? Number(v) : v;
  }

  /** The top bar as arguments: model, finetuning type, adapter, template, quantization. */
  function modelArgs() {
    const args = { model_name_or_path: $('model').value.trim(), finetuning_type: $('finetuning_type').value };
    if ($('adapter').value) args.adapter_name_or_path = $('adapter').value;
    if ($('template').value) args.template = $('template').value;
    if ($('quantization_bit').value !== 'none') args.quantization_bit = Number($('quantization_bit').value);
    return args;
  }

  /** The form as lmforge train arguments (LLaMA-Factory's names). */
  function collectArgs() {
    const args = modelArgs();
    args.do_train = true;
    const datasets = [...$('dataset').selectedOptions].map((o) => o.value);
    for (const f of TRAIN_FIELDS) args[f] = value(f);
    args.dataset = datasets.join(',');
    const groups = [args.finetuning_type === 'lora' ? 'lora' : args.finetuning_type === 'freeze' ? 'freeze' : null];
    if (['dpo', 'kto'].includes(args.stage)) groups.push('rlhf');
    for (const g of groups) if (g) for (const f of GROUP_FIELDS[g]) args[f] = value(f);
    args.plot_loss = true;
    return args;
  }

  /** Fills the form from arguments (LlamaBoard defaults, a loaded YAML, or a reopened run's training_args.yaml). */
  function fillForm(args) {
    const set = (id, v) => {
      if (v === undefined || v === null || !$(id)) return;
      $(id).value = String(v);
    };
    set('model', args.model_name_or_path);
    set('finetuning_type', args.finetuning_type);
    if (args.adapter_name_or_path) ensureOption($('adapter'), String(args.adapter_name_or_path));
    set('adapter', args.adapter_name_or_path);
    set('template', args.template);
    if (args.quantization_bit !== undefined) set('quantization_bit', args.quantization_bit ?? 'none');
    for (const f of [...TRAIN_FIELDS, ...Object.values(GROUP_FIELDS).flat()]) set(f, args[f]);
    showGroups();
    const wanted = String(args.dataset || '').split(',').filter(Boolean);
    return loadDatasets().then(() => {
      for (const o of $('dataset').options) o.selected = wanted.includes(o.value);
      return onModelChange();
    });
  }

  function ensureOption(select, v) {
    if (![...select.options].some((o) => o.value === v)) select.add(new Option(v, v));
  }

  function showGroups() {
    $('group-lora').hidden = $('finetuning_type').value !== 'lora';
    $('group-freeze').hidden = $('finetuning_type').value !== 'freeze';
    $('group-rlhf').hidden = !['dpo', 'kto'].includes($('stage').value);
  }

  async function loadDatasets() {
    const dir = $('dataset_dir').value.trim();
    const select = $('dataset');
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
      say(e.message, true);
    }
  }

  async function onModelChange() {
    const model = $('model').value.trim();
    implied = null;
    if (model) {
      try {
        implied = await api(`/api/template-hint?model=${encodeURIComponent(model)}`);
        if (implied.implied && !$('template').value) $('template').value = implied.implied;
      } catch {
        implied = null;
      }
    }
    updateTemplateWarning();
  }

  function updateTemplateWarning() {
    const el = $('template-warning');
    const chosen = $('template').value;
    let text = '';
    if (implied && implied.implied && chosen && chosen !== implied.implied) {
      const key = implied.sameLayout.includes(chosen) ? 'template_system_differs' : 'template_differs';
      text = t(key, { implied: implied.implied, chosen });
    } else if (implied && !implied.hasChatTemplate && chosen && !['default', 'empty'].includes(chosen)) {
      text = t('no_chat_template');
    }
    el.textContent = text;
    el.hidden = text === '';
  }

  async function previewDataset() {
    const args = collectArgs();
    const box = $('preview');
    box.textContent = '';
    try {
      const r = await api('/api/preview', args);
      const legend = document.createElement('p');
      legend.textContent = `${r.template} — ${t('trained_legend')}`;
      box.append(legend);
      for (const rec of r.records) {
        const div = document.createElement('div');
        div.className = 'record';
        for (const s of rec.segments) {
          const span = document.createElement('span');
          span.className = s.trained ? 'trained' : 'masked';
          span.textContent = s.text;
          div.append(span);
        }
        box.append(div);
      }
      for (const w of r.warnings) {
        const p = document.createElement('p');
        p.className = 'warning';
        p.textContent = w;
        box.append(p);
      }
    } catch (e) {
      say(e.message, true);
    }
  }

  // ---- runs ----------------------------------------------------------------------------------------------

  /** LLaMA-Factory's smooth(): an EMA whose weight grows with the number of points. */
  function smooth(values) {
    if (values.length === 0) return [];
    const weight = 1.8 * (1 / (1 + Math.exp(-0.05 * values.length)) - 0.5);
    let last = values[0];
    return values.map((v) => (last = last * weight + (1 - weight) * v));
  }

  function drawChart(losses) {
    const svg = $('loss-chart');
    svg.innerHTML = '';
    if (losses.length === 0) return;
    const W = 400, H = 200, P = 28;
    const xs = losses.map((l) => l[0]);
    const ys = losses.map((l) => l[1]);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
    const [y0, y1] = [Math.min(...ys), Math.max(...ys, Math.min(...ys) + 1e-6)];
    const px = (x) => P + ((x - x0) / (x1 - x0)) * (W - 2 * P);
    const py = (y) => H - P - ((y - y0) / (y1 - y0)) * (H - 2 * P);
    const line = (vals, cls, color, width) => {
      const el = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
      el.setAttribute('points', vals.map((v, i) => `${px(xs[i]).toFixed(1)},${py(v).toFixed(1)}`).join(' '));
      el.setAttribute('class', cls);
      el.setAttribute('fill', 'none');
      el.setAttribute('stroke', color);
      el.setAttribute('stroke-width', width);
      svg.append(el);
    };
    const text = (x, y, s, anchor) => {
      const el = document.createElementNS('http://www.w3.org/2000/svg', 'text');
      Object.entries({ x, y, 'font-size': 10, 'text-anchor': anchor, fill: '#4b5363' }).forEach(([k, v]) => el.setAttribute(k, v));
      el.textContent = s;
      svg.append(el);
    };
    line(ys, 'raw', '#9db7ea', 1);
    line(smooth(ys), 'smoothed', '#2457c5', 2);
    text(P, H - 8, String(x0), 'start');
    text(W - P, H - 8, String(x1), 'end');
    text(P - 2, P - 6, y1.toFixed(3), 'start');
    text(P - 2, H - P + 12, y0.toFixed(3), 'start');
  }

  /** The adapter picker again: a run that just finished has added one. */
  async function refreshAdapters() {
    const select = $('adapter');
    const chosen = select.value;
    const { adapters } = await api('/api/adapters');
    for (const a of adapters) ensureOption(select, a);
    select.value = chosen;
  }

  function showRun(s) {
    if (s.status !== 'running' && lastSnapshot && lastSnapshot.status === 'running') refreshAdapters().catch(() => {});
    lastSnapshot = s;
    const p = s.progress;
    const pct = p ? p.percentage : 0;
    $('progress').value = s.status === 'finished' ? 100 : pct;
    const steps = p ? ` ${p.current_steps}/${p.total_steps}: ${p.elapsed_time} < ${p.remaining_time}` : '';
    const label = s.status === 'running' ? `${t('running')}${steps}` : `${t(s.status)}${steps}`;
    const ck = s.checkpoints.length > 0 ? ` · ${t('checkpoints')}: ${s.checkpoints.join(', ')}` : '';
    $('progress-label').textContent = label + ck;
    $('progress-label').dataset.status = s.status;
    drawChart(s.losses);
    $('log').textContent = s.logTail;
    $('log').scrollTop = $('log').scrollHeight;
    $('start').disabled = s.status === 'running';
    $('abort').disabled = s.status !== 'running';
  }

  function watchRun(outputDir) {
    if (events) events.close();
    events = null;
    if (!outputDir) return;
    events = new EventSource(`/api/train/events?output_dir=${encodeURIComponent(outputDir)}`);
    events.onmessage = (m) => showRun(JSON.parse(m.data));
  }

  async function reopenOutputDir() {
    const dir = $('output_dir').value.trim();
    if (!dir) return;
    try {
      const { args } = await api(`/api/train/saved?output_dir=${encodeURIComponent(dir)}`);
      if (args) await fillForm({ ...args, output_dir: dir });
      watchRun(dir);
    } catch (e) {
      say(e.message, true);
    }
  }

  function defaultOutputDir() {
    const model = $('model').value.trim().split('/').filter(Boolean).pop() || 'model';
    const d = new Date();
    const pad = (n) => String(n).padStart(2, '0');
    const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}-${pad(d.getHours())}-${pad(d.getMinutes())}-${pad(d.getSeconds())}`;
    return `saves/${model}/${$('finetuning_type').value}/train_${stamp}`;
  }

  async function start() {
    if (!$('output_dir').value.trim()) $('output_dir').value = defaultOutputDir();
    try {
      const s = await api('/api/train/start', { args: collectArgs() });
      say('');
      watchRun($('output_dir').value.trim());
      showRun(s);
    } catch (e) {
      say(e.message, true);
    }
  }

  // ---- chat ----------------------------------------------------------------------------------------------

  function renderHistory() {
    const box = $('history');
    box.innerHTML = '';
    for (const m of history) {
      const div = document.createElement('div');
      div.className = `msg ${m.role}`;
      div.textContent = m.content;
      box.append(div);
    }
    box.scrollTop = box.scrollHeight;
  }

  async function chatStatus() {
    const s = await api('/api/chat/status');
    $('chat-status').textContent = s.loaded ? `${t('loaded')}: ${s.model}${s.adapters.length ? ` + ${s.adapters.join(', ')}` : ''}` : t('unloaded');
    $('chat-status').dataset.loaded = String(s.loaded);
  }

  async function chatLoad() {
    $('chat-status').textContent = t('loading');
    try {
      await api('/api/chat/load', {
        model_name_or_path: $('model').value.trim(),
        adapter_name_or_path: $('adapter').value,
        template: $('template').value,
        default_system: $('system').value,
      });
    } catch (e) {
      $('chat-status').textContent = e.message;
      return;
    }
    await chatStatus();
  }

  async function send() {
    const query = $('query').value;
    if (!query.trim() || chatAbort) return;
    $('query').value = '';
    history.push({ role: 'user', content: query });
    const answer = { role: 'assistant', content: '' };
    history.push(answer);
    renderHistory();
    chatAbort = new AbortController();
    try {
      const res = await fetch('/api/chat/stream', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        signal: chatAbort.signal,
        body: JSON.stringify({
          messages: history.slice(0, -1),
          system: $('system').value,
          temperature: Number($('temperature').value),
          top_p: Number($('top_p').value),
          max_new_tokens: Number($('max_new_tokens').value),
        }),
      });
      if (!res.ok) throw new Error((await res.json()).error);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const event = JSON.parse(buffer.slice(0, cut).replace(/^data: /, ''));
          buffer = buffer.slice(cut + 2);
          if (event.text) answer.content += event.text;
          if (event.error) answer.content += `\n[${event.error}]`;
          renderHistory();
        }
      }
    } catch (e) {
      if (e.name !== 'AbortError') answer.content += `\n[${e.message}]`;
      renderHistory();
    } finally {
      chatAbort = null;
    }
  }

  // ---- export --------------------------------------------------------------------------------------------

  function showExport(s) {
    $('export-status').textContent = s.status === 'idle' ? '' : `${t(s.status)}${s.exportDir ? `: ${s.exportDir}` : ''}`;
    $('export-status').dataset.status = s.status;
    $('export-log').textContent = s.logTail;
  }

  async function exportModel() {
    const args = {
      model_name_or_path: $('model').value.trim(),
      finetuning_type: $('finetuning_type').value,
      export_dir: $('export_dir').value.trim(),
      export_size: Number($('export_size').value),
      export_format: $('export_format').value,
    };
    if ($('adapter').value) args.adapter_name_or_path = $('adapter').value;
    if ($('template').value) args.template = $('template').value;
    try {
      let s = await api('/api/export/start', { args });
      showExport(s);
      while (s.status === 'running') {
        await new Promise((r) => setTimeout(r, 500));
        s = await api('/api/export/state');
        showExport(s);
      }
    } catch (e) {
      $('export-status').textContent = e.message;
    }
  }

  // ---- wiring --------------------------------------------------------------------------------------------

  function selectTab(name) {
    for (const tab of document.querySelectorAll('[role=tab]')) {
      tab.setAttribute('aria-selected', String(tab.id === `tab-${name}`));
      $(tab.getAttribute('aria-controls')).hidden = tab.id !== `tab-${name}`;
    }
  }

  // What the other tabs' scripts (eval-tab.js) use of this page.
  window.LMFORGE_BOARD = {
    api, t, $, modelArgs, selectTab, smooth, defaultOutputDir,
    onLanguage: (hook) => languageHooks.push(hook),
  };

  async function init() {
    info = await api('/api/info');
    const tpl = $('template');
    tpl.add(new Option('', ''));
    for (const n of info.templates) tpl.add(new Option(n, n));
    const [{ models }, { adapters }] = await Promise.all([api('/api/models'), api('/api/adapters')]);
    for (const m of models) $('model-list').append(new Option(m, m));
    for (const a of adapters) $('adapter').add(new Option(a, a));
    $('lang').onchange = () => {
      lang = $('lang').value;
      localStorage.setItem('lmforge-lang', lang);
      applyLanguage();
    };
    $('model').onchange = onModelChange;
    $('template').onchange = updateTemplateWarning;
    $('finetuning_type').onchange = showGroups;
    $('stage').onchange = showGroups;
    $('dataset_dir').onchange = loadDatasets;
    $('output_dir').onchange = reopenOutputDir;
    $('preview-data').onclick = previewDataset;
    $('cmd-preview').onclick = async () => {
      if (!$('output_dir').value.trim()) $('output_dir').value = defaultOutputDir();
      try {
        const { command } = await api('/api/command', { args: collectArgs() });
        $('command').textContent = command;
        $('command').hidden = false;
      } catch (e) {
        say(e.message, true);
      }
    };
    $('args-save').onclick = async () => {
      try {
        const r = await api('/api/args/save', { path: $('args_path').value.trim(), args: collectArgs() });
        say(`${t('saved')} ${r.saved}`);
      } catch (e) {
        say(e.message, true);
      }
    };
    $('args-load').onclick = async () => {
      try {
        const r = await api('/api/args/load', { path: $('args_path').value.trim() });
        await fillForm(r.args);
      } catch (e) {
        say(e.message, true);
      }
    };
    $('start').onclick = start;
    $('abort').onclick = () => api('/api/train/abort', { output_dir: $('output_dir').value.trim() }).catch((e) => say(e.message, true));
    $('tab-train').onclick = () => selectTab('train');
    $('tab-chat').onclick = () => {
      selectTab('chat');
      refreshAdapters().catch(() => {});
    };
    $('tab-export').onclick = () => selectTab('export');
    $('export-start').onclick = exportModel;
    $('chat-load').onclick = chatLoad;
    $('chat-unload').onclick = async () => {
      await api('/api/chat/unload', {});
      await chatStatus();
    };
    $('send').onclick = send;
    $('query').onkeydown = (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) send();
    };
    $('stop').onclick = () => chatAbort && chatAbort.abort();
    $('clear').onclick = () => {
      history = [];
      renderHistory();
    };
    $('args_path').value = 'config.yaml';
    await fillForm({ ...info.defaults, ...info.initial });
    applyLanguage();
    await chatStatus();
    document.body.dataset.ready = 'true';
  }

  init().catch((e) => say(e.message, true));
})();

// The Knowledge-base tab: knowledge bases in a folder of the work dirs (as `lmforge kb --kb_root`), files added by
// path, BM25 search with scores, and answers streamed by the Chat tab's loaded model with numbered sources.
// Built into the page from here (one script tag in index.html), wired through window.LMFORGE_BOARD.
'use strict';
(() => {
  const board = window.LMFORGE_BOARD;
  const { api, t, $ } = board;

  Object.assign(window.BOARD_TEXT.en, {
    kb: 'Knowledge base', kb_root: 'Knowledge-base folder', kb_name: 'Name', kb_create: 'Create',
    kb_refresh: 'Refresh', kb_paths: 'Files or folders (one per line)', kb_add: 'Add files', kb_documents: 'Documents',
    kb_query: 'Question', kb_search: 'Search', kb_ask: 'Ask (Chat tab model)', kb_top_k: 'Top k',
    kb_sources: 'Sources', kb_not_loaded: 'Load a model in the Chat tab to ask.', kb_pick: 'Create or pick a knowledge base first.',
    kb_added: '{files} files, {chunks} chunks added', kb_remove: 'Remove', kb_chunks: 'chunks',
  });
  Object.assign(window.BOARD_TEXT.zh, {
    kb: '知识库', kb_root: '知识库目录', kb_name: '名称', kb_create: '新建', kb_refresh: '刷新',
    kb_paths: '文件或目录（每行一个）', kb_add: '添加文件', kb_documents: '文档', kb_query: '问题', kb_search: '检索',
    kb_ask: '问答（使用对话页的模型）', kb_top_k: '返回条数', kb_sources: '出处',
    kb_not_loaded: '请先在对话页加载模型。', kb_pick: '请先新建或选择一个知识库。',
    kb_added: '已添加 {files} 个文件，{chunks} 个片段', kb_remove: '删除', kb_chunks: '个片段',
  });

  // The tab and its panel, placed after Evaluate & Predict.
  const tab = document.createElement('button');
  Object.assign(tab, { id: 'tab-kb', type: 'button' });
  tab.setAttribute('role', 'tab');
  tab.setAttribute('aria-controls', 'panel-kb');
  tab.setAttribute('aria-selected', 'false');
  tab.dataset.i18n = 'kb';
  tab.textContent = 'Knowledge base';
  $('tab-eval').after(tab);
  const panel = document.createElement('section');
  Object.assign(panel, { id: 'panel-kb', hidden: true });
  panel.setAttribute('role', 'tabpanel');
  panel.setAttribute('aria-labelledby', 'tab-kb');
  panel.innerHTML = `
  <fieldset><legend data-i18n="kb">Knowledge base</legend>
    <div class="field wide"><label for="kb_root" data-i18n="kb_root"></label><input id="kb_root" value="knowledge_base"></div>
    <div class="field"><label for="kb_select" data-i18n="kb"></label><select id="kb_select"></select></div>
    <div class="field"><label for="kb_name" data-i18n="kb_name"></label><input id="kb_name"></div>
    <div class="buttons"><button type="button" id="kb-create" data-i18n="kb_create"></button>
      <button type="button" id="kb-refresh" data-i18n="kb_refresh"></button></div>
  </fieldset>
  <fieldset><legend data-i18n="kb_documents">Documents</legend>
    <div class="field wide"><label for="kb_paths" data-i18n="kb_paths"></label><textarea id="kb_paths" rows="2"></textarea></div>
    <div class="buttons"><button type="button" id="kb-add" data-i18n="kb_add"></button></div>
    <ul id="kb-docs" class="kb-list"></ul>
  </fieldset>
  <fieldset><legend data-i18n="kb_query">Question</legend>
    <div class="field wide"><label for="kb_query" data-i18n="kb_query"></label><input id="kb_query"></div>
    <div class="field"><label for="kb_top_k" data-i18n="kb_top_k"></label><input id="kb_top_k" type="number" value="3" min="1"></div>
    <div class="buttons"><button type="button" id="kb-search" data-i18n="kb_search"></button>
      <button type="button" id="kb-ask" class="primary" data-i18n="kb_ask"></button></div>
    <div id="kb-answer" class="history" aria-live="polite"></div>
    <ol id="kb-hits" class="kb-list"></ol>
  </fieldset>
  <p id="kb-message" role="status"></p>`;
  $('panel-eval').after(panel);

  const say = (message, isError = false) => {
    $('kb-message').textContent = message;
    $('kb-message').className = isError ? 'warning' : '';
  };
  const root = () => $('kb_root').value.trim();
  const current = () => $('kb_select').value;
  const q = (params) => new URLSearchParams(params).toString();

  async function refresh(select) {
    try {
      const { bases } = await api(`/api/kb/list?${q({ root: root() })}`);
      const box = $('kb_select');
      const keep = select ?? box.value;
      box.innerHTML = '';
      for (const b of bases) box.add(new Option(`${b.name} (${b.documents} / ${b.chunks})`, b.name));
      if (keep) box.value = keep;
      await showDocuments();
    } catch (e) {
      say(e.message, true);
    }
  }

  async function showDocuments() {
    const list = $('kb-docs');
    list.innerHTML = '';
    if (!current()) return;
    const { documents } = await api(`/api/kb/documents?${q({ root: root(), name: current() })}`);
    for (const d of documents) {
      const li = document.createElement('li');
      li.textContent = `${d.path} — ${d.chunks} ${t('kb_chunks')} `;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = t('kb_remove');
      remove.onclick = async () => {
        await api('/api/kb/remove', { root: root(), name: current(), paths: [d.path] }).catch((e) => say(e.message, true));
        await refresh();
      };
      li.append(remove);
      list.append(li);
    }
  }

  function showHits(hits) {
    const list = $('kb-hits');
    list.innerHTML = '';
    for (const h of hits) {
      const li = document.createElement('li');
      const where = document.createElement('strong');
      where.textContent = `${h.score.toFixed(3)}  ${h.source}${h.heading ? ` (${h.heading})` : ''}`;
      const body = document.createElement('div');
      body.className = 'text';
      body.textContent = h.text;
      li.append(where, body);
      list.append(li);
    }
  }

  const needKb = () => {
    if (current()) return true;
    say(t('kb_pick'), true);
    return false;
  };

  $('kb-create').onclick = async () => {
    try {
      await api('/api/kb/create', { root: root(), name: $('kb_name').value.trim() });
      say('');
      await refresh($('kb_name').value.trim());
    } catch (e) {
      say(e.message, true);
    }
  };
  $('kb-refresh').onclick = () => refresh();
  $('kb_root').onchange = () => refresh();
  $('kb_select').onchange = () => showDocuments().catch((e) => say(e.message, true));
  $('kb-add').onclick = async () => {
    if (!needKb()) return;
    const paths = $('kb_paths').value.split('\n').map((p) => p.trim()).filter(Boolean);
    try {
      const r = await api('/api/kb/add', { root: root(), name: current(), paths });
      const failed = r.files.filter((f) => f.status === 'failed');
      say(t('kb_added', { files: r.files.length - failed.length, chunks: r.chunks }) +
        failed.map((f) => `\n${f.path}: ${f.reason}`).join(''), failed.length > 0);
      await refresh();
    } catch (e) {
      say(e.message, true);
    }
  };
  $('kb-search').onclick = async () => {
    if (!needKb()) return;
    try {
      const { hits } = await api('/api/kb/search', {
        root: root(), name: current(), query: $('kb_query').value, top_k: Number($('kb_top_k').value),
      });
      $('kb-answer').textContent = '';
      showHits(hits);
    } catch (e) {
      say(e.message, true);
    }
  };
  $('kb-ask').onclick = async () => {
    if (!needKb()) return;
    const status = await api('/api/chat/status');
    if (!status.loaded) return say(t('kb_not_loaded'), true);
    say('');
    const out = $('kb-answer');
    out.textContent = '';
    showHits([]);
    try {
      const res = await fetch('/api/kb/ask', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ root: root(), name: current(), question: $('kb_query').value, top_k: Number($('kb_top_k').value) }),
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
          if (event.text) out.textContent += event.text;
          if (event.sources) showHits(event.sources);
          if (event.error) say(event.error, true);
        }
      }
      out.dataset.done = 'true';
    } catch (e) {
      say(e.message, true);
    }
  };
  tab.onclick = () => {
    board.selectTab('kb');
    refresh();
  };
})();

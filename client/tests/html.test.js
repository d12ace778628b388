// @vitest-environment happy-dom
import { describe, it, expect } from 'vitest'
import { parseMessageHtml, activateScripts, formDataObject, stripHtml, openLinksInNewTab } from '../src/lib/html.js'
import { rewriteRelativeUrls } from '../src/lib/urls.js'
import { addStylesheetOnce, addScriptOnce } from '../src/lib/head-assets.js'

const base = 'http://127.0.0.1:1234/meme'

describe('relative URLs in message HTML', () => {
  it('resolves every listed element and attribute against base_url', () => {
    const frag = parseMessageHtml(
      document,
      `<img src="/static/meme.png"><embed src="e.swf"><object data="o.bin"></object>
       <link rel="stylesheet" href="/s.css"><script src="/s.js"></script>
       <audio src="/a.wav"></audio><video src="v.mp4"><source src="/v.webm"></video>
       <a href="/not-touched">link</a><img src="https://cdn.example/x.png">`,
      base,
    )
    const get = (sel, attr) => frag.querySelector(sel).getAttribute(attr)
    expect(get('img', 'src')).toBe('http://127.0.0.1:1234/static/meme.png')
    expect(get('embed', 'src')).toBe('http://127.0.0.1:1234/e.swf')
    expect(get('object', 'data')).toBe('http://127.0.0.1:1234/o.bin')
    expect(get('link', 'href')).toBe('http://127.0.0.1:1234/s.css')
    expect(get('script', 'src')).toBe('http://127.0.0.1:1234/s.js')
    expect(get('audio', 'src')).toBe('http://127.0.0.1:1234/a.wav')
    expect(get('video', 'src')).toBe('http://127.0.0.1:1234/v.mp4')
    expect(get('source', 'src')).toBe('http://127.0.0.1:1234/v.webm')
    expect(get('a', 'href')).toBe('/not-touched')
    expect(frag.querySelectorAll('img')[1].getAttribute('src')).toBe('https://cdn.example/x.png')
  })
  it('leaves user messages (no base_url) as written', () => {
    const frag = parseMessageHtml(document, '<img src="/x.png">', null)
    expect(frag.querySelector('img').getAttribute('src')).toBe('/x.png')
  })
  it('rewrites in an element too', () => {
    const div = document.createElement('div')
    div.innerHTML = '<img src="pic.png">'
    rewriteRelativeUrls(div, 'http://h/bots/x')
    expect(div.querySelector('img').getAttribute('src')).toBe('http://h/bots/pic.png')
  })
})

describe('activateScripts', () => {
  it('replaces parsed scripts with fresh copies that keep attributes and text', () => {
    const div = document.createElement('div')
    document.body.appendChild(div)
    div.appendChild(parseMessageHtml(document, '<p>hi</p><script data-x="1">window.__ran = 1</script>', null))
    const before = div.querySelector('script')
    expect(activateScripts(div)).toBe(1)
    const after = div.querySelector('script')
    expect(after).not.toBe(before)
    expect(after.getAttribute('data-x')).toBe('1')
    expect(after.textContent).toBe('window.__ran = 1')
  })
})

describe('formDataObject', () => {
  function form(html) {
    const f = document.createElement('form')
    f.innerHTML = html
    document.body.appendChild(f)
    return f
  }
  it('includes the clicked button name and value', () => {
    const f = form(
      '<button name="dessert" value="apple-crumble">A</button><button name="dessert" value="affogato">B</button>',
    )
    expect(formDataObject(f, f.querySelectorAll('button')[1])).toEqual({ dessert: 'affogato' })
  })
  it('includes named fields and makes repeated names a list', () => {
    const f = form(
      `<input name="who" value="Ann"><input type="checkbox" name="c" value="1" checked>
       <input type="checkbox" name="c" value="2" checked><input type="checkbox" name="c" value="3">
       <select name="s"><option>x</option><option selected>y</option></select>`,
    )
    expect(formDataObject(f, null)).toEqual({ who: 'Ann', c: ['1', '2'], s: 'y' })
  })
  it('ignores an unnamed submitter', () => {
    const f = form('<input name="a" value="1"><button>go</button>')
    expect(formDataObject(f, f.querySelector('button'))).toEqual({ a: '1' })
  })
})

describe('stripHtml', () => {
  it('keeps the text only', () => {
    expect(stripHtml(document, 'Hello <b>there</b>!<script>x()</script><style>p{}</style>')).toBe('Hello there!')
    expect(stripHtml(document, '1 &lt; 2\n\n  and\tmore')).toBe('1 < 2 and more')
    expect(stripHtml(document, null)).toBe('')
  })
})

describe('css and js of a message', () => {
  it('are added to the head once each', () => {
    expect(addStylesheetOnce(document, 'http://b/static/button.css')).toBe(true)
    expect(addStylesheetOnce(document, 'http://b/static/button.css')).toBe(false)
    expect(addScriptOnce(document, 'http://b/static/none.js')).toBe(true)
    expect(addScriptOnce(document, 'http://b/static/none.js')).toBe(false)
    expect(document.head.querySelectorAll('link[href="http://b/static/button.css"]')).toHaveLength(1)
    expect(document.head.querySelectorAll('script[src="http://b/static/none.js"]')).toHaveLength(1)
  })
})

describe('openLinksInNewTab', () => {
  it('sends links to a new tab, except anchors and links with a target', () => {
    const frag = parseMessageHtml(
      document,
      '<a href="https://x/">x</a><a href="#top">top</a><a href="/y" target="_self">y</a><a>no href</a>',
      null,
    )
    openLinksInNewTab(frag)
    const links = frag.querySelectorAll('a')
    expect(links[0].getAttribute('target')).toBe('_blank')
    expect(links[0].getAttribute('rel')).toBe('noopener noreferrer')
    expect(links[1].hasAttribute('target')).toBe(false)
    expect(links[2].getAttribute('target')).toBe('_self')
    expect(links[3].hasAttribute('target')).toBe(false)
  })
})

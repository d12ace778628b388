import { describe, it, expect } from 'vitest'
import { escapeHtml, tokenizeJson, prettyJsonText, highlightJson, viewBody, viewValue } from '../src/lib/json-view.js'

describe('escapeHtml', () => {
  it('escapes the characters that mean something in HTML', () => {
    expect(escapeHtml(`<a href="x" title='y'>&amp;</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;')
    expect(escapeHtml(42)).toBe('42')
  })
})

describe('tokenizeJson', () => {
  it('classifies keys, strings, numbers, literals and punctuation', () => {
    expect(tokenizeJson('{"a": [1, "x", true, null]}')).toEqual([
      { type: 'punct', text: '{' },
      { type: 'key', text: '"a"' },
      { type: 'punct', text: ':' },
      { type: 'punct', text: '[' },
      { type: 'number', text: '1' },
      { type: 'punct', text: ',' },
      { type: 'string', text: '"x"' },
      { type: 'punct', text: ',' },
      { type: 'literal', text: 'true' },
      { type: 'punct', text: ',' },
      { type: 'literal', text: 'null' },
      { type: 'punct', text: ']' },
      { type: 'punct', text: '}' },
    ])
  })
  it('is null for anything that is not JSON', () => {
    for (const bad of ['', '{', "{'a': 1}", '{"a":1,}', 'NaN', '<html>', '{"a":1} x', '"tab\there"', undefined, null, 3]) {
      expect(tokenizeJson(bad)).toBe(null)
    }
  })
  it('handles escapes, exponents and a string value followed by a colon-free context', () => {
    const tokens = tokenizeJson('["a\\"b\\\\", -1.5e+3, "\\u00e9"]')
    expect(tokens.filter((t) => t.type !== 'punct').map((t) => [t.type, t.text])).toEqual([
      ['string', '"a\\"b\\\\"'],
      ['number', '-1.5e+3'],
      ['string', '"\\u00e9"'],
    ])
  })
})

describe('prettyJsonText', () => {
  it('lays out like JSON.stringify with two spaces', () => {
    const values = [
      { room: 'r', author: 'Ann', text: 'hi', params: {} },
      [1, [2, []], { a: { b: null } }],
      'just a string',
      0,
      { nested: [{ x: [true, false] }], empty: [] },
    ]
    for (const v of values) expect(prettyJsonText(JSON.stringify(v))).toBe(JSON.stringify(v, null, 2))
  })
  it('keeps the original text of numbers and strings', () => {
    expect(prettyJsonText('{"big":12345678901234567890,"f":1.10,"s":"\\u00e9"}')).toBe(
      '{\n  "big": 12345678901234567890,\n  "f": 1.10,\n  "s": "\\u00e9"\n}',
    )
  })
  it('re-indents JSON that came with its own whitespace', () => {
    expect(prettyJsonText('{\r\n\t"a" :\t[ 1 ,2 ]\n}')).toBe('{\n  "a": [\n    1,\n    2\n  ]\n}')
  })
})

describe('highlightJson', () => {
  it('wraps each token in a class and escapes everything', () => {
    const html = highlightJson('{"<b>":"</code><script>alert(1)</script>","n":1,"t":true}')
    expect(html).toBe(
      '<span class="j-punct">{</span>\n' +
        '  <span class="j-key">&quot;&lt;b&gt;&quot;</span><span class="j-punct">:</span> ' +
        '<span class="j-string">&quot;&lt;/code&gt;&lt;script&gt;alert(1)&lt;/script&gt;&quot;</span><span class="j-punct">,</span>\n' +
        '  <span class="j-key">&quot;n&quot;</span><span class="j-punct">:</span> <span class="j-number">1</span><span class="j-punct">,</span>\n' +
        '  <span class="j-key">&quot;t&quot;</span><span class="j-punct">:</span> <span class="j-literal">true</span>\n' +
        '<span class="j-punct">}</span>',
    )
    expect(html).not.toMatch(/<(?!\/?span)/)
  })
  it('gives the same text as the pretty-printer once the tags are removed', () => {
    const text = '{"a":[1,{"b":"c&d"}],"e":{}}'
    const stripped = highlightJson(text)
      .replace(/<[^>]+>/g, '')
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, '&')
    expect(stripped).toBe(prettyJsonText(text))
  })
  it('is null for text', () => {
    expect(highlightJson('Internal Server Error')).toBe(null)
  })
})

describe('viewBody and viewValue', () => {
  it('pretty-prints and highlights JSON bodies', () => {
    const v = viewBody(' {"text":"Hello"} \n')
    expect(v.json).toBe(true)
    expect(v.text).toBe('{\n  "text": "Hello"\n}')
    expect(v.html).toContain('<span class="j-string">&quot;Hello&quot;</span>')
  })
  it('keeps other text as it came (a cut-off JSON body included)', () => {
    expect(viewBody('<h1>Not Found</h1>')).toEqual({ json: false, text: '<h1>Not Found</h1>' })
    expect(viewBody('{"text": "cut off here')).toEqual({ json: false, text: '{"text": "cut off here' })
    expect(viewBody(null)).toEqual({ json: false, text: '' })
    expect(viewBody('   ')).toEqual({ json: false, text: '   ' })
  })
  it('shows a parsed request as JSON', () => {
    const request = { room: 'r', author: 'A', text: 'hi <b>', params: { n: '1' } }
    const v = viewValue(request)
    expect(v.json).toBe(true)
    expect(v.text).toBe(JSON.stringify(request, null, 2))
    expect(viewValue(undefined)).toEqual({ json: false, text: '' })
    expect(viewValue(null).text).toBe('null')
  })
})

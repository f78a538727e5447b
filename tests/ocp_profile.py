#!/usr/bin/python3
"""ocp_profile.py — check a served tree against a Redfish interoperability
profile (DSP0272), for the resource types named.

    ocp_profile.py TREE PROFILE TYPE... [--gap TYPE:PATH]...

TREE is a directory holding one index.json per resource (the redfishfs mount
or a copy of it); PROFILE a profile JSON (../shared/redfish-profiles/
OCPRackPDU.v1_0_0.json). For every resource of each TYPE (its @odata.type)
at a URI the profile lists for it (for a type with UseCases, the use case
its key property selects), every property and action whose ReadRequirement
is Mandatory (DSP0272's default when none is given; a Conditional one when
a ConditionalRequirements entry makes it so) must be present, nested
requirements checked inside objects and in every element of arrays, and a
Comparison (Equal, AnyOf) must hold. Requirements other than Mandatory are
not checked (IfImplemented ones only when present).

--gap TYPE:PATH names a Mandatory item the service is known not to serve
(the README says why): it may be missing, but must be missing somewhere, so
the list never outlives the gap. Prints one line per problem and a summary;
exits 1 on any problem, or when no resource of a TYPE was found.
"""
import json
import os
import re
import sys


def load_tree(root):
    docs = []
    for d, _, files in os.walk(root):
        if 'index.json' in files:
            with open(os.path.join(d, 'index.json')) as f:
                docs.append(json.load(f))
    return docs


def uri_regex(pattern):
    parts = re.split(r'(\{[^}]+\})', pattern)
    return re.compile('^' + ''.join('[^/]+' if p.startswith('{') else re.escape(p)
                                    for p in parts) + '$')


def mandatory(req, obj=None):
    """Whether req is Mandatory for obj (the object holding the property):
    a ConditionalRequirements entry whose condition holds on obj's other
    properties (CompareType Absent, Present, Equal, AnyOf) decides."""
    for cond in req.get('ConditionalRequirements', []):
        other = cond.get('CompareProperty')
        have = isinstance(obj, dict) and other in obj
        kind = cond.get('CompareType')
        values = cond.get('CompareValues', [])
        if kind == 'Absent':
            holds = not have
        elif kind == 'Present':
            holds = have
        elif kind in ('Equal', 'AnyOf'):
            holds = have and obj[other] in values
        else:
            raise ValueError('CompareType %s is not supported by this checker' % kind)
        if holds:
            return cond.get('ReadRequirement', 'Mandatory') == 'Mandatory'
    return req.get('ReadRequirement', 'Mandatory') == 'Mandatory'


def requirements_for(prof, doc):
    """The requirements that apply to doc: the resource's own, or those of
    the use case (UseCases) whose key property matches, or None."""
    cases = prof.get('UseCases')
    if not cases:
        return prof
    for case in cases:
        key = case.get('UseCaseKeyProperty')
        values = case.get('UseCaseKeyValues', [])
        cmp = case.get('UseCaseComparison', 'Equal')
        if cmp not in ('Equal', 'AnyOf'):
            raise ValueError('UseCaseComparison %s is not supported by this checker' % cmp)
        if key in doc and doc[key] in (values[:1] if cmp == 'Equal' else values):
            return case
    return None


def check_comparison(req, value, path, out):
    cmp = req.get('Comparison')
    if not cmp:
        return
    values = req.get('Values', [])
    if cmp == 'Equal':
        ok = value in values[:1]
    elif cmp == 'AnyOf':
        ok = value in values
    else:
        out.append((path, 'comparison %s is not supported by this checker' % cmp))
        return
    if not ok:
        out.append((path, '%r fails %s %r' % (value, cmp, values)))


def check_props(obj, reqs, prefix, out):
    """Append (path, problem) for every unmet Mandatory requirement."""
    for name, req in reqs.items():
        path = prefix + name
        present = isinstance(obj, dict) and name in obj
        if not present:
            if mandatory(req, obj):
                out.append((path, 'missing'))
            continue
        value = obj[name]
        check_comparison(req, value, path, out)
        sub = req.get('PropertyRequirements')
        if sub:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item is not None:
                    check_props(item, sub, path + '/', out)


def check_actions(obj, rtype, reqs, out):
    actions = obj.get('Actions', {}) if isinstance(obj, dict) else {}
    for name, req in reqs.items():
        key = '#%s.%s' % (rtype, name)
        path = 'Actions/' + key
        if key not in actions:
            if mandatory(req):
                out.append((path, 'missing'))
            continue
        for param, preq in req.get('Parameters', {}).items():
            if mandatory(preq) and param + '@Redfish.AllowableValues' not in actions[key]:
                out.append((path + '/' + param, 'parameter values not given'))


def main(argv):
    args, gaps = [], set()
    i = 1
    while i < len(argv):
        if argv[i] == '--gap' and i + 1 < len(argv):
            gaps.add(argv[i + 1])
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    tree, profile_path, types = args[0], args[1], args[2:]
    with open(profile_path) as f:
        profile = json.load(f)
    docs = load_tree(tree)
    problems, seen_gaps, counts = [], set(), {}
    for rtype in types:
        prof = profile['Resources'].get(rtype)
        if prof is None:
            problems.append('%s: not in the profile' % rtype)
            continue
        for doc in docs:
            otype = doc.get('@odata.type', '')
            uri = doc.get('@odata.id', '')
            if otype.lstrip('#').split('.')[0] != rtype:
                continue
            req = requirements_for(prof, doc)
            if req is None:
                problems.append('%s: %s fits none of the profile\'s use cases' % (rtype, uri))
                continue
            patterns = [uri_regex(u) for u in req.get('URIs', [])]
            if patterns and not any(p.match(uri) for p in patterns):
                problems.append('%s: %s is at no URI the profile allows' % (rtype, uri))
                continue
            counts[rtype] = counts.get(rtype, 0) + 1
            out = []
            check_props(doc, req.get('PropertyRequirements', {}), '', out)
            check_actions(doc, rtype, req.get('ActionRequirements', {}), out)
            for path, what in out:
                key = '%s:%s' % (rtype, path)
                if key in gaps and what == 'missing':
                    seen_gaps.add(key)
                else:
                    problems.append('%s %s: %s' % (uri, path, what))
        if not counts.get(rtype):
            problems.append('%s: no resource of this type in %s' % (rtype, tree))
    for gap in sorted(gaps - seen_gaps):
        problems.append('--gap %s: served everywhere now; drop it from the list' % gap)
    for p in problems:
        print(p)
    print('%s: %s checked; %d known gaps; %d problems' % (
        os.path.basename(profile_path),
        ', '.join('%d %s' % (counts.get(t, 0), t) for t in types), len(seen_gaps), len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

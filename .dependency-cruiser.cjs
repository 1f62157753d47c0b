/**
 * The layer order of the source folders, enforced by `npm run lint` (dependency-cruiser): a folder imports
 * only folders below it, and no file takes part in an import cycle. ARCHITECTURE.md explains the order.
 */
const LAYERS = [
  ['events'],
  ['infra'],
  ['commands'],
  ['projections'],
  ['workflows'],
  ['agents'],
  ['sagas'],
  ['a2a-edge'],
  ['read-api', 'admin-api'],
  ['app'],
  ['bin'],
];

const upward = LAYERS.flatMap((layer, i) => {
  const above = LAYERS.slice(i + 1).flat();
  const besides = layer.length > 1 ? layer : [];
  return layer.map((folder) => ({
    name: `${folder}-imports-only-below`,
    comment: `${folder}/ may import only ${LAYERS.slice(0, i).flat().join(', ') || 'nothing of ours'} (ARCHITECTURE.md)`,
    severity: 'error',
    from: { path: `^${folder}/` },
    to: { path: `^(${[...above, ...besides.filter((f) => f !== folder)].join('|')})/` },
  }));
}).filter((rule) => !rule.to.path.startsWith('^()'));

module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'an import cycle makes two files one: neither can be read, tested or moved without the other',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|\\.scratch)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};

// esbuild bundles the stylesheet a panel imports into <panel>.css next to its script.
declare module '*.css';

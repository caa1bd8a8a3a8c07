// Types for @download/blockies (it ships none): MetaMask's blocky identicons.
declare module '@download/blockies' {
  /** A canvas of `size` × `size` cells, `scale` pixels each, drawn from `seed`. */
  export function createIcon(opts: { seed: string; size?: number; scale?: number; color?: string; bgcolor?: string; spotcolor?: string }): HTMLCanvasElement;
}

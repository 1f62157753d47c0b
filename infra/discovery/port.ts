/**
 * A capability request: exact (skill id, tags) and/or semantic (natural language); both run, results merge.
 */
export interface DiscoveryQuery {
  tenant: string;
  text?: string;
  skillId?: string;
  tags?: string[];
  limit?: number;
  /** Leave out disabled agents, agents whose circuit is open, and unhealthy ones. Default true. */
  routableOnly?: boolean;
}

/** One agent skill that matches, with what the routing score needs. */
export interface Candidate {
  agentId: string;
  skillId: string;
  skillName: string;
  /** Cosine similarity of the query to the skill (1 for an exact skill-id match, 0 when there is no text). */
  similarity: number;
  /** How it matched: exact (id/tag), semantic, or both. */
  matchedBy: Array<'skill-id' | 'tag' | 'semantic'>;
  /** Observed latency (ms, moving average); null before the first call. */
  latencyMs: number | null;
  costPerRequest: number;
  /** 0..1, from outcomes (completed vs failed); 0.5 before any. */
  quality: number;
  status: 'active' | 'disabled';
  circuit: 'closed' | 'open' | 'half-open';
}

export interface Discovery {
  discover(query: DiscoveryQuery): Promise<Candidate[]>;
}

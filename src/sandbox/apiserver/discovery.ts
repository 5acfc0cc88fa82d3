/**
 * Discovery documents as kubectl and client libraries read them: `/api`, `/apis`, `/apis/<group>`,
 * and the APIResourceList of each group version, with verbs, short names, categories and subresources.
 */
import { RESOURCE_VERBS, apiVersionOf, type ResourceRegistry } from './resources.js';
import type { JsonObject } from './types.js';

/** An extra resource entry listed in a group version's discovery (add-on subresources). */
export interface ExtraDiscoveryResource {
  groupVersion: string;
  resource: JsonObject;
}

/** The server version `/version` reports. */
export const SERVER_VERSION = {
  major: '1',
  minor: '30',
  gitVersion: 'v1.30.0-csbs-sandbox',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.22.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

/** Builds discovery documents from the registry. */
export class Discovery {
  constructor(
    private readonly registry: ResourceRegistry,
    private readonly extras: () => ExtraDiscoveryResource[],
  ) {}

  /** `/api`. */
  coreVersions(host: string): JsonObject {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }],
    };
  }

  private groupEntry(name: string, versions: string[]): JsonObject {
    const list = versions.map((v) => ({ groupVersion: apiVersionOf(name, v), version: v }));
    return { name, versions: list, preferredVersion: list[0] };
  }

  private namedGroups(): Map<string, string[]> {
    const groups = this.registry.groups();
    for (const e of this.extras()) {
      const [group, version] = e.groupVersion.split('/');
      if (!version) continue;
      const versions = groups.get(group) ?? [];
      if (!versions.includes(version)) versions.push(version);
      groups.set(group, versions);
    }
    groups.delete('');
    return groups;
  }

  /** `/apis`. */
  groupList(): JsonObject {
    const groups = [...this.namedGroups()].map(([name, versions]) => this.groupEntry(name, versions));
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }

  /** `/apis/<group>`, or undefined when not served. */
  group(name: string): JsonObject | undefined {
    const versions = this.namedGroups().get(name);
    if (!versions) return undefined;
    return { kind: 'APIGroup', apiVersion: 'v1', ...this.groupEntry(name, versions) };
  }

  /** `/api/v1` or `/apis/<group>/<version>`, or undefined when not served. */
  resources(group: string, version: string): JsonObject | undefined {
    const resources: JsonObject[] = [];
    const groupVersion = apiVersionOf(group, version);
    for (const def of this.registry.all()) {
      if (def.group !== group || !def.versions.some((v) => v.name === version)) continue;
      const entry: JsonObject = {
        name: def.plural,
        singularName: def.singular,
        namespaced: def.namespaced,
        kind: def.kind,
        verbs: RESOURCE_VERBS,
      };
      if (def.shortNames.length > 0) entry.shortNames = def.shortNames;
      if (def.categories.length > 0) entry.categories = def.categories;
      resources.push(entry);
      if (def.statusSubresource) {
        resources.push({
          name: `${def.plural}/status`,
          singularName: '',
          namespaced: def.namespaced,
          kind: def.kind,
          verbs: ['get', 'patch', 'update'],
        });
      }
      for (const sub of def.extraSubresources ?? []) {
        resources.push({
          name: `${def.plural}/${sub}`,
          singularName: '',
          namespaced: def.namespaced,
          kind: sub === 'log' ? 'Pod' : def.kind,
          verbs: ['get'],
        });
      }
    }
    for (const e of this.extras()) if (e.groupVersion === groupVersion) resources.push(e.resource);
    if (resources.length === 0) return undefined;
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
  }
}

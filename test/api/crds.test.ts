import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  CATEGORY,
  KINDS,
  RESOURCES,
  crdFileName,
  type CustomResourceDefinition,
} from '../../src/api/index.js';
import { crdYaml } from '../../src/cli/crds.js';
import { formatFieldError, structural, undocumentedFields } from '../../src/schema/index.js';
import { packageRoot } from '../../src/version.js';

const crdDir = join(packageRoot, 'crds');

describe('crds/', () => {
  it('holds exactly one CRD per kind, equal to what src/api/schemas.ts generates', () => {
    expect(readdirSync(crdDir).sort()).to.deep.equal(KINDS.map(crdFileName).sort());
    for (const kind of KINDS) {
      const committed = readFileSync(join(crdDir, crdFileName(kind)), 'utf8');
      expect(committed, `crds/${crdFileName(kind)} is stale: run \`npx csbs crds --write crds/\``).to.equal(
        crdYaml(kind),
      );
    }
  });

  for (const kind of KINDS) {
    describe(kind, () => {
      const crd = parse(readFileSync(join(crdDir, crdFileName(kind)), 'utf8')) as CustomResourceDefinition;
      const version = crd.spec.versions[0]!;
      const schema = version.schema.openAPIV3Schema;

      it('parses as a namespaced apiextensions.k8s.io/v1 CRD with names, short names and the csbs category', () => {
        expect(crd.apiVersion).to.equal('apiextensions.k8s.io/v1');
        expect(crd.kind).to.equal('CustomResourceDefinition');
        expect(crd.metadata.name).to.equal(`${RESOURCES[kind].plural}.csbs.dev`);
        expect(crd.spec.scope).to.equal('Namespaced');
        expect(crd.spec.names.kind).to.equal(kind);
        expect(crd.spec.names.shortNames).to.have.length.greaterThan(0);
        expect(crd.spec.names.categories).to.deep.equal([CATEGORY]);
        expect(crd.spec.versions).to.have.length(1);
        expect(version).to.include({ name: 'v1alpha1', served: true, storage: true });
        expect(version.subresources).to.deep.equal({ status: {} });
        expect(version.additionalPrinterColumns.at(-1)?.name).to.equal('Age');
      });

      it('has a structural schema (types everywhere, valid defaults, CEL rules that compile)', () => {
        expect(structural(schema, 'openAPIV3Schema').map(formatFieldError)).to.deep.equal([]);
        expect(schema.properties?.spec).to.exist;
        expect(schema.properties?.status).to.exist;
        expect(schema.required).to.deep.equal(['spec']);
      });

      it('describes every field (kubectl explain)', () => {
        expect(undocumentedFields(schema)).to.deep.equal([]);
      });

      it('bounds every string a CEL rule reads, so a real apiserver accepts the rules’ cost', () => {
        const unbounded: string[] = [];
        const visit = (s: typeof schema, path: string) => {
          if (s.type === 'string' && s['x-kubernetes-validations'] && s.maxLength === undefined)
            unbounded.push(path);
          for (const [k, c] of Object.entries(s.properties ?? {})) visit(c, `${path}.${k}`);
          if (s.items && !Array.isArray(s.items)) visit(s.items, `${path}[]`);
        };
        visit(schema, '');
        expect(unbounded).to.deep.equal([]);
      });
    });
  }

  it('shows the CSBS-style backup name as the first column of Backups', () => {
    const crd = parse(readFileSync(join(crdDir, crdFileName('Backup')), 'utf8')) as CustomResourceDefinition;
    expect(crd.spec.versions[0]!.additionalPrinterColumns[0]).to.include({
      name: 'Backup Name',
      jsonPath: '.spec.backupName',
    });
  });
});

import {
  actionForMethod,
  actionsForPermissions,
  isAction,
  permissionsForActions,
  type Action,
} from '../../../src/policy/actions';

describe('actionForMethod', () => {
  it.each<[string, Action | undefined]>([
    ['GET', 'read'],
    ['HEAD', 'read'],
    ['POST', 'create'],
    ['PUT', 'write'],
    ['PATCH', 'write'],
    ['DELETE', 'delete'],
    ['OPTIONS', undefined],
    ['TRACE', undefined],
    ['CONNECT', undefined],
    ['get', undefined],
    ['', undefined],
  ])('%j -> %j', (method, action) => {
    expect(actionForMethod(method)).toBe(action);
  });
});

describe('SAS permission letters', () => {
  it.each<[Action[], string]>([
    [['read'], 'r'],
    [['delete', 'read'], 'rd'],
    [['write', 'create', 'read', 'delete', 'read'], 'rcwd'],
    [[], ''],
  ])('%j -> %j', (actions, sp) => {
    expect(permissionsForActions(actions)).toBe(sp);
  });

  it.each<[string, Action[] | undefined]>([
    ['r', ['read']],
    ['rcwd', ['read', 'create', 'write', 'delete']],
    ['cd', ['create', 'delete']],
    ['', undefined],
    ['dr', undefined],
    ['rr', undefined],
    ['rx', undefined],
    ['R', undefined],
  ])('%j -> %j', (sp, actions) => {
    expect(actionsForPermissions(sp)).toEqual(actions);
  });

  it('isAction accepts exactly the four actions', () => {
    expect(['read', 'create', 'write', 'delete', '*', 'READ', 1].map(isAction)).toEqual([
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });
});
